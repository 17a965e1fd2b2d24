/**
 * The Settings page: where Ollama is, and the model used when a request names none.
 * @module
 */
import type { OllamaModel } from "../core/ollama.ts";
import type { FormState } from "./form_state.ts";
import { countOf } from "./format.ts";
import { CsrfField, Field, Notice, PageHeader } from "./parts.tsx";
import type { ViewContext } from "./view_context.ts";

/** Ollama's models, or why they could not be listed. */
export type ModelList = { ok: true; models: OllamaModel[] } | { ok: false; error: string };

/** The outcome of "Test connection". */
export type ConnectionResult =
  | { ok: true; url: string; version: string; modelCount: number }
  | { ok: false; error: string };

/** Everything the Settings page shows. */
export interface SettingsPageProps {
  ctx: ViewContext;
  form: FormState;
  models: ModelList;
  connection?: ConnectionResult;
  saved?: boolean;
  /** PUBLIC_URL from the environment, used while the form's public URL is empty. */
  envPublicUrl: string | null;
  /**
   * The names of the Ollama boxes when there are several: the one-box URL field gives way to a
   * link to the Ollama boxes page.
   */
  severalBoxes?: string[];
}

/** The whole Settings page content. */
export function SettingsPage(p: SettingsPageProps) {
  return (
    <>
      <PageHeader title="Settings">
        Changes apply to the next proxied request; no restart needed.
      </PageHeader>
      <SettingsForm {...p} />
    </>
  );
}

/** The settings form (the fragment a save swaps). */
export function SettingsForm(
  { ctx, form, models, connection, saved, envPublicUrl, severalBoxes }: SettingsPageProps,
) {
  const v = form.values;
  const e = form.errors;
  return (
    <section id="settings" class="card narrow">
      {saved && (
        <Notice kind="success">
          Settings saved. The next proxied request uses them.
        </Notice>
      )}
      <form
        method="post"
        action="/settings"
        hx-post="/settings"
        hx-target="#settings"
        hx-swap="outerHTML"
      >
        <CsrfField token={ctx.csrf} />
        {/* Enter in a field submits with the form's first submit button: make that Save. */}
        <button type="submit" hidden tabindex={-1}>Save settings</button>
        <h2>Ollama</h2>
        {severalBoxes
          ? (
            <>
              {e.ollama_url && <Notice kind="error" alert>{e.ollama_url}</Notice>}
              <p id="ollama-boxes">
                Requests go to {severalBoxes.length}{" "}
                Ollama boxes ({severalBoxes.join(", ")}); add, change or disable them on the{" "}
                <a href="/upstreams">Ollama boxes</a> page.
              </p>
            </>
          )
          : <OllamaUrlField value={v.ollama_url} error={e.ollama_url} />}
        <ConnectionStatus result={connection} />
        <ModelField models={models} value={v.default_model} error={e.default_model} />
        <h2>Clients</h2>
        <Field
          name="public_url"
          label="Public URL"
          type="url"
          inputmode="url"
          value={v.public_url}
          error={e.public_url}
          placeholder={envPublicUrl ?? "automatic"}
          hint={`Where clients on other machines reach the proxy, e.g. http://gpu-box:8000 or https://llm.example.com; Proxy info's snippets use it. ${
            envPublicUrl
              ? `Empty: PUBLIC_URL from the environment (${envPublicUrl}).`
              : "Empty: worked out from PROXY_HOST and the address of this page; Proxy info says how."
          }`}
        />
        <div class="form-actions">
          <button type="submit" class="btn primary">Save settings</button>
        </div>
      </form>
    </section>
  );
}

/** The one-box Ollama URL, with its "Test connection" button. */
function OllamaUrlField({ value, error }: { value?: string; error?: string }) {
  return (
    <div class="field-with-action">
      <Field
        name="ollama_url"
        label="Ollama URL"
        type="url"
        inputmode="url"
        value={value}
        error={error}
        hint="Where the gateway sends requests, e.g. http://localhost:11434 (several boxes: the Ollama boxes page)"
        required
      />
      <button
        type="submit"
        class="btn secondary"
        formaction="/settings/test"
        hx-post="/settings/test"
        hx-target="#connection-result"
        hx-swap="outerHTML"
      >
        Test connection
      </button>
    </div>
  );
}

/** What "Test connection" found: Ollama's version, or the exact error. */
export function ConnectionStatus({ result }: { result?: ConnectionResult }) {
  if (!result) return <div id="connection-result" aria-live="polite"></div>;
  return (
    <div id="connection-result" aria-live="polite">
      {result.ok
        ? (
          <Notice kind="success">
            Connected to Ollama {result.version} at {result.url}{" "}
            ({countOf(result.modelCount, "model")} installed).
          </Notice>
        )
        : <Notice kind="error" alert>{result.error}</Notice>}
    </div>
  );
}

// Hono's JSX needs no `key` (it renders lists once, on the server) and would print one as an
// attribute, so list items are made by a plain function.
function modelOption(name: string, selected: boolean) {
  return <option value={name} selected={selected}>{name}</option>;
}

/**
 * The default model: a choice from Ollama's live model list, or a text field when the list
 * cannot be had (Ollama down), so the setting can still be changed.
 */
export function ModelField(
  { models, value, error, oob }: {
    models: ModelList;
    value?: string;
    error?: string;
    oob?: boolean;
  },
) {
  const names = models.ok ? models.models.map((m) => m.name) : [];
  // Ollama reads a name without a tag as name:latest, so "llama3" is the installed llama3:latest.
  const current = value && !value.includes(":") && names.includes(`${value}:latest`)
    ? `${value}:latest`
    : value ?? "";
  const described = error ? "default_model-error default_model-hint" : "default_model-hint";
  return (
    <div
      id="model-field"
      class={`field${error ? " invalid" : ""}`}
      hx-swap-oob={oob ? "true" : undefined}
    >
      <label for="default_model">Default model</label>
      {models.ok && names.length > 0
        ? (
          <select
            id="default_model"
            name="default_model"
            aria-describedby={described}
            aria-invalid={error ? "true" : undefined}
          >
            {current !== "" && !names.includes(current) && (
              <option value={current} selected>{current} (not installed)</option>
            )}
            {names.map((name) => modelOption(name, name === current))}
          </select>
        )
        : (
          <input
            id="default_model"
            name="default_model"
            type="text"
            value={current}
            required
            autocomplete="off"
            aria-describedby={described}
            aria-invalid={error ? "true" : undefined}
          />
        )}
      <p class="hint" id="default_model-hint">
        {models.ok
          ? (names.length > 0
            ? "Used when a request names no model. The list comes from Ollama."
            : "Ollama has no models installed; type the name of the model to use.")
          : `The model list is not available: ${models.error} Type the model name instead.`}
      </p>
      {error && <p class="field-error" id="default_model-error">{error}</p>}
    </div>
  );
}
