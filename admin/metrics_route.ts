/**
 * GET /metrics on the admin listener: Prometheus text format, for the admin password or
 * METRICS_TOKEN as a bearer token (so a scraper need not hold the admin password).
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { secretsEqual } from "../core/secrets.ts";
import { metricsOf } from "../ops/gateway_metrics.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../ops/metrics.ts";
import { hasAdminBearer } from "./auth.ts";
import { AdminError } from "./errors.ts";

function hasMetricsToken(headers: Headers, token: string | null): boolean {
  if (token === null) return false;
  const match = /^bearer\s+(.+)$/i.exec((headers.get("authorization") ?? "").trim());
  return match !== null && secretsEqual(match[1], token);
}

/** Builds the /metrics route. */
export function createMetricsRoute(deps: Deps): Hono {
  const app = new Hono();
  const metrics = metricsOf(deps);
  app.get("/metrics", (c) => {
    const headers = c.req.raw.headers;
    if (
      !hasAdminBearer(headers, deps.config.adminPassword) &&
      !hasMetricsToken(headers, deps.config.metricsToken)
    ) {
      throw new AdminError(
        401,
        "Metrics need Authorization: Bearer <ADMIN_PASSWORD or METRICS_TOKEN>",
      );
    }
    return c.body(metrics.registry.render(), 200, {
      "content-type": PROMETHEUS_CONTENT_TYPE,
      "cache-control": "no-store",
    });
  });
  return app;
}
