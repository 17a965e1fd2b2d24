/**
 * GET /healthz (the process answers) and GET /readyz (it can serve: database reachable, schema
 * current; Ollama reported). Mounted on both listeners before any authentication.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { readinessProbeOf } from "./health.ts";

/** Builds the health routes of a listener. */
export function createHealthRoutes(deps: Deps): Hono {
  const app = new Hono();
  const probe = readinessProbeOf(deps);
  // Probes must see the present, never a cached answer from a proxy in between.
  const noStore = { "cache-control": "no-store" };
  app.get("/healthz", (c) => c.json({ status: "ok" }, 200, noStore));
  app.get("/readyz", async (c) => {
    const readiness = await probe.check();
    return c.json(readiness, readiness.status === "ready" ? 200 : 503, noStore);
  });
  return app;
}
