/**
 * The Models page: the models installed on the Ollama boxes (their union), read-only, with the
 * keys that may use each.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { ModelsPage } from "../views/models_page.tsx";
import { boxesModelList } from "./model_list.ts";
import { redactUrl } from "../core/redact.ts";
import { upstreamTableOf } from "../ops/upstreams.ts";
import { renderPage } from "./render.tsx";
import type { UiEnv } from "./ui_env.ts";

/** Builds GET /models (behind the session guard). */
export function createModelRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  app.get("/models", async (c) => {
    const settings = await deps.settings.get();
    const boxes = (await upstreamTableOf(deps).configs()).filter((b) => b.enabled);
    const [models, keys] = await Promise.all([
      boxesModelList(boxes),
      // In a callback: a store that throws at once (SQLite) rejects here, after the list is asked.
      Promise.resolve().then(() => deps.store.listKeys()),
    ]);
    const page = (
      <ModelsPage
        models={models}
        keys={keys}
        cloudAllowed={settings.allow_cloud_models}
        boxes={boxes.map((b) => redactUrl(b.url))}
        defaultModel={settings.default_model}
        timeZone={deps.config.timeZone}
      />
    );
    return renderPage(c, { title: "Models", active: "models" }, page);
  });
  return app;
}
