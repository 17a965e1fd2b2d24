/**
 * The admin listener: the JSON API under /api (and the web UI).
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../core/deps.ts";
import { createAdminApi } from "./api.ts";
import { AdminError } from "./errors.ts";

/** Builds the admin app. */
export function createAdminApp(deps: Deps): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof AdminError) {
      return c.json(
        err.field ? { error: err.message, field: err.field } : { error: err.message },
        err.status as 400,
      );
    }
    deps.log.error("admin error", { route: c.req.path, error: err.message });
    return c.json({ error: "Internal error" }, 500);
  });
  app.route("/api", createAdminApi(deps));
  return app;
}
