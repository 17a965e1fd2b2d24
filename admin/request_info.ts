/**
 * Facts about an admin request: who sent it, over what, and whether htmx asked for a fragment.
 * @module
 */
import type { Context } from "hono";

/**
 * The client's address as the socket saw it (`Deno.serve` passes it as the env), or "unknown".
 * X-Forwarded-For is not trusted: anyone could send one to dodge the login throttle.
 */
export function clientAddress(c: Context): string {
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return env?.remoteAddr?.hostname ?? "unknown";
}

/**
 * Whether the request came over https: directly, or through a TLS-terminating proxy that says so.
 * Trusting X-Forwarded-Proto here is safe: it can only add the cookie's Secure flag.
 */
export function cameOverHttps(c: Context): boolean {
  if (new URL(c.req.url).protocol === "https:") return true;
  return c.req.header("x-forwarded-proto")?.split(",")[0].trim().toLowerCase() === "https";
}

/**
 * Whether htmx asked for a fragment. Boosted navigations and history restores need the whole page,
 * so they get it like a direct load.
 */
export function wantsFragment(c: Context): boolean {
  return c.req.header("hx-request") === "true" && c.req.header("hx-boosted") !== "true" &&
    c.req.header("hx-history-restore-request") !== "true";
}
