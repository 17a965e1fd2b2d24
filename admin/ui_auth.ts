/**
 * The web UI's guards: a session cookie for every page behind the login, and CSRF checks on every
 * state-changing request. (The JSON API under /api uses the bearer password instead: auth.ts.)
 * @module
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { secretsEqual } from "../core/secrets.ts";
import { AdminError } from "./errors.ts";
import { cameOverHttps, wantsFragment } from "./request_info.ts";
import type { SessionStore } from "./sessions.ts";
import type { UiEnv } from "./ui_env.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "llmq_session";

/** The form field and the header that carry the CSRF token. */
export const CSRF_FIELD = "_csrf";
const CSRF_HEADER = "x-csrf-token";

/** Sets (or refreshes) the session cookie: HttpOnly, SameSite=Strict, Secure over https. */
export function setSessionCookie(c: Context, id: string, maxAgeSeconds: number): void {
  setCookie(c, SESSION_COOKIE, id, {
    path: "/",
    httpOnly: true,
    sameSite: "Strict",
    secure: cameOverHttps(c),
    // Refreshed on every request, so the browser forgets it after the same inactivity as the server.
    maxAge: maxAgeSeconds,
  });
}

/** Removes the session cookie from the browser. */
export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: cameOverHttps(c) });
}

/** The session id the browser sent, if any. */
export function sessionIdOf(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

const LOCAL_ORIGIN = "http://local.invalid";
/** A path of this site: one slash, then no slash or backslash (`//host` is another site). */
const LOCAL_PATH = /^\/(?![/\\])/;
// Browsers drop tabs and line breaks from URLs (`/\t/host` becomes `//host`) and read `\` as
// `/`; line breaks cannot go into a Location header at all. None of them belongs in a path.
const UNSAFE = /[\p{Cc} \\]/u;

/**
 * The path to come back to after signing in: only a path of this site, never another site, and
 * always a valid Location header. The path is resolved as a browser would (`/..//host` ends up
 * as `//host`) and checked again, and it is sent percent-encoded.
 */
export function safeNext(next: string | undefined): string {
  if (!next || !LOCAL_PATH.test(next) || UNSAFE.test(next)) return "/keys";
  let url: URL;
  try {
    url = new URL(next, LOCAL_ORIGIN);
  } catch {
    return "/keys"; // not reachable for a path that passed the checks above; kept as a guard
  }
  const path = url.pathname + url.search + url.hash;
  return url.origin === LOCAL_ORIGIN && LOCAL_PATH.test(path) ? path : "/keys";
}

/** The cookie of a browser that signed in before (see credential_guard.ts). */
const DEVICE_COOKIE = "llmq_device";

/** Marks this browser as one that signed in; sent only to /login, kept for 30 days. */
export function setDeviceCookie(c: Context, id: string): void {
  setCookie(c, DEVICE_COOKIE, id, {
    path: "/login",
    httpOnly: true,
    sameSite: "Strict",
    secure: cameOverHttps(c),
    maxAge: 30 * 24 * 60 * 60,
  });
}

/** The trusted-device id the browser sent, if any. */
export function deviceIdOf(c: Context): string | undefined {
  return getCookie(c, DEVICE_COOKIE);
}

/**
 * Lets signed-in admins through and puts their session on the context. Others go to the login
 * page: a redirect for a page load, `HX-Redirect` for htmx (which would otherwise swap the login
 * page into a table cell).
 */
export function requireSession(sessions: SessionStore) {
  return createMiddleware<UiEnv>(async function requireSession(c, next) {
    const session = sessions.touch(sessionIdOf(c));
    if (!session) {
      const here = new URL(c.req.url);
      const target = c.req.method === "GET" ? here.pathname + here.search : "/keys";
      const login = `/login?next=${encodeURIComponent(target)}`;
      if (wantsFragment(c)) return c.body(null, 401, { "hx-redirect": login });
      return c.redirect(login, 303);
    }
    c.set("session", session);
    setSessionCookie(c, session.id, Math.floor(sessions.idleMs / 1000));
    await next();
  });
}

/**
 * Whether a state-changing request comes from our own pages. Browsers send Sec-Fetch-Site and
 * Origin on POSTs; a request from another site is refused even before its token is looked at.
 */
export function fromOwnOrigin(c: Context): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return false;
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  try {
    // Hosts are compared, not schemes: behind a TLS proxy the page is https, the request http.
    return new URL(origin).host === (c.req.header("host") ?? new URL(c.req.url).host);
  } catch {
    return false; // "null" (sandboxed frames, privacy modes) and garbage
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Refuses state-changing requests without the session's CSRF token or from another origin. */
export function requireCsrf() {
  return createMiddleware<UiEnv>(async function requireCsrf(c, next) {
    if (!SAFE_METHODS.has(c.req.method)) {
      if (!fromOwnOrigin(c)) {
        throw new AdminError(403, "This request came from another site and was refused");
      }
      let token = c.req.header(CSRF_HEADER);
      if (token === undefined) {
        const body = await c.req.parseBody().catch(() => ({} as Record<string, unknown>));
        const field = body[CSRF_FIELD];
        token = typeof field === "string" ? field : undefined;
      }
      if (token === undefined || !secretsEqual(token, c.get("session").csrf)) {
        throw new AdminError(
          403,
          "This form has expired or did not come from this admin page. Reload the page and try again.",
        );
      }
    }
    await next();
  });
}
