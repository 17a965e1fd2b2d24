/**
 * The admin listener: the JSON API under /api and the web UI.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../core/deps.ts";
import { createAdminApi } from "./api.ts";
import { adminErrorHandler, adminNotFound } from "./error_response.tsx";
import { noStoreHtml, securityHeaders } from "./security.ts";
import { createAdminUi } from "./ui.ts";

/** Builds the admin app. */
export function createAdminApp(deps: Deps): Hono {
  const app = new Hono();
  app.onError(adminErrorHandler(deps));
  app.notFound(adminNotFound);
  app.use(securityHeaders(), noStoreHtml());
  app.route("/api", createAdminApi(deps));
  app.route("/", createAdminUi(deps));
  return app;
}
