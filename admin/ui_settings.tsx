/**
 * The Settings page: change where Ollama is (a one-box setup; several boxes have their own page)
 * and the default model, test the connection.
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
import { connectionForm, settingsForm, settingsFormWithoutUrl } from "./form_schemas.ts";
import { boxesModelList, modelList } from "./model_list.ts";
import {
  SeveralUpstreams,
  singleUrlMeant,
  type StoredUpstream,
} from "../core/upstreams/records.ts";
import { setOllamaUrl, upstreamTableOf } from "../ops/upstreams.ts";
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

  // The boxes as the form shows them: one URL to edit, or several to link to.
  const boxes = async () => {
    const rows = await upstreamTableOf(deps).rows();
    return {
      rows,
      models: await boxesModelList(await upstreamTableOf(deps).configs()),
      severalBoxes: rows.length > 1 ? rows.map((r) => r.name) : undefined,
    };
  };

  app.get("/settings", async (c) => {
    const settings = await deps.settings.get();
    const { rows, models, severalBoxes } = await boxes();
    const props: SettingsPageProps = {
      ctx: viewContext(c, deps),
      form: {
        values: formValues(settings, rows),
        errors: {},
      },
      models,
      envPublicUrl,
      severalBoxes,
    };
    return renderPage(c, PAGE, <SettingsPage {...props} />);
  });

  app.post("/settings", async (c) => {
    const ctx = viewContext(c, deps);
    const values = await readForm(c);
    const before = await boxes();
    // With several boxes the form has no URL field: they are edited on their own page (a URL
    // sent anyway, from a form shown before a second box came, is refused at its field).
    const withUrl = !before.severalBoxes || (values.ollama_url ?? "") !== "";
    let checked = checkForm(withUrl ? settingsForm : settingsFormWithoutUrl, values);
    if (checked.ok && "ollama_url" in checked.data) {
      try {
        // The form shows the URL redacted: sent back so, the stored credentials stay.
        checked.data.ollama_url = await setOllamaUrl(deps, checked.data.ollama_url as string);
      } catch (err) {
        if (!(err instanceof SeveralUpstreams)) throw err;
        // A form from before a second box was added elsewhere.
        checked = { ok: false, form: { values, errors: { ollama_url: err.message } } };
      }
    }
    let props: SettingsPageProps;
    if (checked.ok) {
      const saved = await deps.settings.update(checked.data);
      const after = await boxes();
      // A password in the URL is never logged.
      deps.log.info("settings changed", {
        ...saved,
        ollama_url: redactUrl(saved.ollama_url),
        via: "ui",
      });
      props = {
        ctx,
        form: {
          values: formValues(saved, after.rows),
          errors: {},
        },
        models: after.models,
        saved: true,
        envPublicUrl,
        severalBoxes: after.severalBoxes,
      };
    } else {
      // The list for the model field comes from the boxes as saved, since the typed URL failed.
      props = {
        ctx,
        form: checked.form,
        models: before.models,
        envPublicUrl,
        severalBoxes: before.severalBoxes,
      };
    }
    const status = checked.ok ? undefined : 422;
    if (wantsFragment(c)) return renderFragment(c, <SettingsForm {...props} />, status);
    return renderPage(c, { ...PAGE, status }, <SettingsPage {...props} />);
  });

  app.post("/settings/test", async (c) => {
    const values = await readForm(c);
    const checked = checkForm(connectionForm, values);
    // The form shows the lone box's URL redacted: tested as shown, its credentials are used.
    const tested = checked.ok
      ? singleUrlMeant(await upstreamTableOf(deps).rows(), checked.data.ollama_url)
      : "";
    const { result, models } = checked.ok ? await testConnection(tested) : {
      result: { ok: false, error: checked.form.errors.ollama_url } as ConnectionResult,
      models: (await boxes()).models,
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

/**
 * The fields of the settings form, as the form shows them (the URL: the lone box's, a user name
 * and password in it as ***).
 */
function formValues(s: Settings, rows: ReadonlyArray<StoredUpstream>): Record<string, string> {
  return {
    ollama_url: redactUrl(rows.length === 1 ? rows[0].url : s.ollama_url),
    default_model: s.default_model,
    public_url: s.public_url,
  };
}
