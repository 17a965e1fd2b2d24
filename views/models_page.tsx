/**
 * The Models page: what Ollama has installed, read-only, and which keys may use each model.
 * @module
 */
import type { ApiKey } from "../core/model.ts";
import { isCloudModel, modelAllowed, modelMatches } from "../core/model_names.ts";
import { countOf, formatBytes, formatDateTime } from "./format.ts";
import { Notice, PageHeader } from "./parts.tsx";
import type { ModelList } from "./settings_page.tsx";

/** The keys that may use one model: those without a model list, and those whose list allows it. */
function ModelKeys(
  { model, keys, cloudAllowed }: { model: string; keys: ApiKey[]; cloudAllowed: boolean },
) {
  if (keys.length === 0) return <span class="muted">No keys yet</span>;
  if (!cloudAllowed && isCloudModel(model)) {
    return <span class="muted">No key: cloud models are switched off</span>;
  }
  const open = keys.filter((k) => k.policy.models === null);
  const listed = keys.filter((k) =>
    k.policy.models !== null && modelAllowed(k.policy.models, model)
  );
  if (open.length === keys.length) return <span>Every key</span>;
  if (open.length === 0 && listed.length === 0) return <span class="muted">No key</span>;
  return (
    <ul class="key-chips">
      {open.length > 0 && (
        <li class="muted" title={open.map((k) => k.name).join(", ")}>
          {countOf(open.length, "key")} without a model list
        </li>
      )}
      {listed.map((k) => (
        <li>
          <a class="chip" href={`/keys?name=${encodeURIComponent(k.name)}`}>{k.name}</a>
        </li>
      ))}
    </ul>
  );
}

/** Entries of keys' model lists that match no installed model: usually a typo. */
function unmatchedEntries(keys: ApiKey[], installed: string[]): Array<[ApiKey, string[]]> {
  const out: Array<[ApiKey, string[]]> = [];
  for (const key of keys) {
    const missing = (key.policy.models ?? []).filter((pattern) =>
      !installed.some((name) => modelMatches(pattern, name))
    );
    if (missing.length > 0) out.push([key, missing]);
  }
  return out;
}

/** The whole Models page content. */
export function ModelsPage(
  { models, keys, cloudAllowed, boxes, defaultModel, timeZone }: {
    models: ModelList;
    /** Every key, for who may use which model. */
    keys: ApiKey[];
    /** Whether the gateway lets keys use models that run on ollama.com. */
    cloudAllowed: boolean;
    /** The enabled Ollama boxes' URLs (without credentials), whose models are listed. */
    boxes: string[];
    defaultModel: string;
    timeZone: string;
  },
) {
  const unmatched = models.ok ? unmatchedEntries(keys, models.models.map((m) => m.name)) : [];
  return (
    <>
      <PageHeader title="Models">
        {boxes.length === 1
          ? (
            <>
              What Ollama at <code>{boxes[0]}</code>
              {" "}
            </>
          )
          : (
            <>
              What the {boxes.length} <a href="/upstreams">Ollama boxes</a>
              {" "}
            </>
          )}
        offers, and which keys may use each model (a key without a model list may use all of them).
        Install or remove models with Ollama itself; the gateway does not let keys do it.
      </PageHeader>
      <section class="card">
        {!models.ok
          ? (
            <Notice kind="error" alert>
              {models.error} {boxes.length === 1
                ? (
                  <>
                    The Ollama URL is set on the <a href="/settings">Settings</a> page.
                  </>
                )
                : (
                  <>
                    The Ollama boxes are set on the <a href="/upstreams">Ollama boxes</a> page.
                  </>
                )}
            </Notice>
          )
          : models.models.length === 0
          ? <p class="empty">Ollama has no models installed yet.</p>
          : (
            <table class="models">
              <caption class="visually-hidden">Models installed in Ollama</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Family</th>
                  <th scope="col">Parameters</th>
                  <th scope="col">Quantization</th>
                  <th scope="col" class="num">Size</th>
                  <th scope="col">Modified</th>
                  <th scope="col">Keys</th>
                </tr>
              </thead>
              <tbody>
                {models.models.map((m) => (
                  <tr>
                    <td data-label="Name">
                      <code>{m.name}</code>
                      {(m.name === defaultModel || m.name === `${defaultModel}:latest`) && (
                        <span class="badge info">default</span>
                      )}
                    </td>
                    <td data-label="Family">{m.family || <span class="muted">–</span>}</td>
                    <td data-label="Parameters">
                      {m.parameter_size || <span class="muted">–</span>}
                    </td>
                    <td data-label="Quantization">
                      {m.quantization_level || <span class="muted">–</span>}
                    </td>
                    <td data-label="Size" class="num">{formatBytes(m.size)}</td>
                    <td data-label="Modified">
                      {m.modified_at && !Number.isNaN(Date.parse(m.modified_at))
                        ? formatDateTime(m.modified_at, timeZone)
                        : <span class="muted">–</span>}
                    </td>
                    <td data-label="Keys" class="model-keys">
                      <ModelKeys model={m.name} keys={keys} cloudAllowed={cloudAllowed} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        {unmatched.length > 0 && (
          <Notice kind="warning">
            <p>
              Model lists that name no installed model (a typo, or a model not pulled yet):
            </p>
            <ul class="unmatched">
              {unmatched.map(([key, patterns]) => (
                <li>
                  <a href={`/keys?name=${encodeURIComponent(key.name)}`}>{key.name}</a>:{" "}
                  {patterns.map((p, i) => (
                    <>
                      {i > 0 && ", "}
                      <code>{p}</code>
                    </>
                  ))}
                </li>
              ))}
            </ul>
          </Notice>
        )}
      </section>
    </>
  );
}
