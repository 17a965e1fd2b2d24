/**
 * GET /metrics on the admin listener: Prometheus text format, for the admin password or
 * METRICS_TOKEN as a bearer token (so a scraper need not hold the admin password). Without them:
 * a JSON 401 with `WWW-Authenticate: Bearer`, never the UI's login page.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { metricsOf } from "../ops/gateway_metrics.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../ops/metrics.ts";
import { checkBearer } from "./auth.ts";
import type { CredentialGuard } from "./credential_guard.ts";

/** Builds the /metrics route; its credential checks share the admin's guard. */
export function createMetricsRoute(deps: Deps, guard: CredentialGuard): Hono {
  const app = new Hono();
  const metrics = metricsOf(deps);
  const secrets = [deps.config.adminPassword, deps.config.metricsToken]
    .filter((s): s is string => s !== null);
  app.get("/metrics", (c) => {
    checkBearer(
      c,
      guard,
      secrets,
      "metrics",
      "Metrics need Authorization: Bearer <ADMIN_PASSWORD or METRICS_TOKEN>",
    );
    return c.body(metrics.registry.render(), 200, {
      "content-type": PROMETHEUS_CONTENT_TYPE,
      "cache-control": "no-store",
    });
  });
  return app;
}
