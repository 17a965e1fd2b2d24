/**
 * The admin's one error handler: JSON under /api, an HTML page or an htmx flash message elsewhere.
 * Unexpected errors are logged once and answered without any detail.
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Deps } from "../deps.ts";
import { redactPath } from "../core/redact.ts";
import { ErrorFlash, ErrorPage, errorTitle } from "../views/error_page.tsx";
import { AdminError } from "./errors.ts";
import { renderFragment, renderPage } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";

// Machine clients: the JSON API, and /metrics (a scraper cannot read an HTML login page).
function isApi(c: Context): boolean {
  return c.req.path === "/api" || c.req.path.startsWith("/api/") || c.req.path === "/metrics";
}

/** Answers an error as the listener's clients expect it. */
export function adminErrorHandler(deps: Deps) {
  return function adminErrorHandler(err: Error, c: Context): Response | Promise<Response> {
    const known = err instanceof AdminError;
    if (!known) {
      deps.log.error("admin error", { route: redactPath(c.req.path), error: err.message });
    }
    const status = (known ? err.status : 500) as ContentfulStatusCode;
    if (known) {
      for (const [name, value] of Object.entries(err.headers ?? {})) c.header(name, value);
    }
    if (isApi(c)) {
      if (!known) return c.json({ error: "Internal error" }, 500);
      return c.json(
        err.field ? { error: err.message, field: err.field } : { error: err.message },
        status,
      );
    }
    const message = known ? err.message : "Something went wrong on our side; it has been logged.";
    if (wantsFragment(c)) {
      // Shown in the page's flash area rather than in whatever the request meant to replace.
      c.header("hx-retarget", "#flash");
      c.header("hx-reswap", "innerHTML");
      return renderFragment(c, <ErrorFlash message={message} />, status);
    }
    return renderPage(
      c,
      { title: errorTitle(status), status },
      <ErrorPage status={status} message={message} />,
    );
  };
}

/** Answers a path nothing serves. */
export function adminNotFound(c: Context): Response | Promise<Response> {
  if (isApi(c)) {
    return c.json({ error: `Route ${c.req.method} ${redactPath(c.req.path)} not found` }, 404);
  }
  return renderPage(
    c,
    { title: errorTitle(404), status: 404 },
    <ErrorPage status={404} message="There is no page at this address." />,
  );
}
