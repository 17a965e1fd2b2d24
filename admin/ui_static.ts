/**
 * GET /static/:name: htmx and our CSS/JS, cacheable; versioned URLs are cached for good.
 * @module
 */
import { Hono } from "hono";
import { AdminError } from "./errors.ts";
import { staticAsset } from "../views/static_assets.ts";

/** Builds the static file route (no login needed: the login page uses it too). */
export function createStaticRoutes(): Hono {
  const app = new Hono();
  app.get("/static/:name", (c) => {
    const found = staticAsset(c.req.param("name"));
    if (!found) throw new AdminError(404, "This file does not exist");
    const etag = `"${found.hash}"`;
    // A URL carrying the content hash never changes meaning; an unversioned one may.
    const cacheControl = c.req.query("v") === found.hash
      ? "public, max-age=31536000, immutable"
      : "public, max-age=300";
    const headers = { etag, "cache-control": cacheControl };
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
    return c.body(found.body, 200, { ...headers, "content-type": found.contentType });
  });
  return app;
}
