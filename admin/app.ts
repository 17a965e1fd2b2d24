/**
 * The admin listener: the JSON API under /api and the web UI.
 * @module
 */
import { Hono } from "hono";
import { limitBody } from "../core/body_limit.ts";
import { requireValidHost } from "../core/host_header.ts";
import type { Deps } from "../deps.ts";
import { createAdminApi } from "./api.ts";
import { AdminError } from "./errors.ts";
import { adminErrorHandler, adminNotFound } from "./error_response.tsx";
import { noStoreHtml, securityHeaders } from "./security.ts";
import { createAdminUi } from "./ui.ts";
import { createMetricsRoute } from "./metrics_route.ts";
import { requireAdminHost } from "./allowed_hosts.ts";
import { CredentialGuard } from "./credential_guard.ts";
import { createHealthRoutes } from "../ops/health_routes.ts";
import { trackRequests } from "../ops/request_log.ts";

/** Builds the admin app. */
export function createAdminApp(deps: Deps): Hono {
  const app = new Hono();
  app.onError(adminErrorHandler(deps));
  app.notFound(adminNotFound);
  // First, so the request id and the log line cover every answer, errors included.
  app.use(trackRequests(deps, "admin"));
  app.use(requireValidHost((m) => new AdminError(400, m)));
  app.use(securityHeaders(), noStoreHtml());
  app.use(requireAdminHost(deps.config));
  app.use(limitBody(deps.config.maxBodyBytes, (m) => new AdminError(413, m)));
  // One guard for every credential check of this listener: API, /metrics and login share it.
  const guard = new CredentialGuard(deps.clock, deps.log);
  app.route("/api", createAdminApi(deps, guard));
  // Before the UI, whose session check covers every other path.
  app.route("/", createHealthRoutes(deps));
  app.route("/", createMetricsRoute(deps, guard));
  app.route("/", createAdminUi(deps, guard));
  return app;
}
