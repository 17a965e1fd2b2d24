/**
 * The Settings page: change where Ollama is and the default model, test the connection.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import type { Settings } from "../core/settings.ts";
import { OllamaUnavailable, ollamaVersion } from "../core/ollama.ts";
import { redactUrl } from "../core/redact.ts";
import {
  type ConnectionResult,
  ConnectionStatus,
  ModelField,
  SettingsForm,
  SettingsPage,
  type SettingsPageProps,
} from "../views/settings_page.tsx";
import { connectionForm, settingsForm } from "./form_schemas.ts";
import { modelList } from "./model_list.ts";
import { renderFragment, renderPage, viewContext } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";
import { checkForm, readForm } from "./ui_forms.ts";
import type { UiEnv } from "./ui_env.ts";

const PAGE = { title: "Settings", active: "settings" } as const;

/** Asks Ollama at `url` for its version and models; a failure becomes its exact message. */
async function testConnection(url: string) {
  try {
    const version = await ollamaVersion(url);
    const models = await modelList(url);
    const result: ConnectionResult = {
      ok: true,
      url: redactUrl(url),
      version,
      modelCount: models.ok ? models.models.length : 0,
    };
    return { result, models };
  } catch (err) {
    if (!(err instanceof OllamaUnavailable)) throw err;
    const result: ConnectionResult = { ok: false, error: err.message };
    return { result, models: { ok: false as const, error: err.message } };
  }
}

/** Builds the Settings routes (behind the session and CSRF guards). */
export function createSettingsRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  const envPublicUrl = deps.config.publicUrl;

  app.get("/settings", async (c) => {
    const settings = await deps.settings.get();
    const props: SettingsPageProps = {
      ctx: viewContext(c, deps),
      form: {
        values: formValues(settings),
        errors: {},
      },
      models: await modelList(settings.ollama_url),
      envPublicUrl,
    };
    return renderPage(c, PAGE, <SettingsPage {...props} />);
  });

  app.post("/settings", async (c) => {
    const ctx = viewContext(c, deps);
    const values = await readForm(c);
    const checked = checkForm(settingsForm, values);
    let props: SettingsPageProps;
    if (checked.ok) {
      const saved = await deps.settings.update(checked.data);
      // A password in the URL is never logged.
      deps.log.info("settings changed", {
        ...saved,
        ollama_url: redactUrl(saved.ollama_url),
        via: "ui",
      });
      props = {
        ctx,
        form: {
          values: formValues(saved),
          errors: {},
        },
        models: await modelList(saved.ollama_url),
        saved: true,
        envPublicUrl,
      };
    } else {
      // The list for the model field comes from the URL that is saved, since the typed one failed.
      const current = await deps.settings.get();
      props = {
        ctx,
        form: checked.form,
        models: await modelList(current.ollama_url),
        envPublicUrl,
      };
    }
    const status = checked.ok ? undefined : 422;
    if (wantsFragment(c)) return renderFragment(c, <SettingsForm {...props} />, status);
    return renderPage(c, { ...PAGE, status }, <SettingsPage {...props} />);
  });

  app.post("/settings/test", async (c) => {
    const values = await readForm(c);
    const checked = checkForm(connectionForm, values);
    const { result, models } = checked.ok ? await testConnection(checked.data.ollama_url) : {
      result: { ok: false, error: checked.form.errors.ollama_url } as ConnectionResult,
      models: await modelList((await deps.settings.get()).ollama_url),
    };
    if (wantsFragment(c)) {
      // The model choice follows the tested URL, keeping what was selected.
      return renderFragment(
        c,
        <>
          <ConnectionStatus result={result} />
          <ModelField models={models} value={values.default_model} oob />
        </>,
      );
    }
    const props: SettingsPageProps = {
      ctx: viewContext(c, deps),
      form: { values, errors: checked.ok ? {} : checked.form.errors },
      models,
      connection: result,
      envPublicUrl,
    };
    return renderPage(c, PAGE, <SettingsPage {...props} />);
  });

  return app;
}

/** The fields of the settings form, as the form shows them. */
function formValues(s: Settings): Record<string, string> {
  return { ollama_url: s.ollama_url, default_model: s.default_model, public_url: s.public_url };
}
