/**
 * The admin listener answers only to its own host names. A web page on the gateway's machine
 * could otherwise reach the admin by DNS rebinding: its own name, re-pointed at 127.0.0.1, makes
 * the browser treat the admin as that page's origin. A rebound request still carries the page's
 * name in `Host`, so checking `Host` against the names the admin is meant to be reached by stops it.
 * @module
 */
import { createMiddleware } from "hono/factory";
import type { Config } from "../core/config.ts";
import { isLoopback, isWildcard } from "../core/loopback.ts";
import { AdminError } from "./errors.ts";

/** The host part of a Host header, lower case, without port or trailing dot. */
export function hostName(host: string): string {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return name.toLowerCase().replace(/\.$/, "");
}

/** The names besides loopback ones the admin answers to: ADMIN_HOST, ADMIN_ALLOWED_HOSTS. */
export function adminHostNames(config: Pick<Config, "adminHost" | "adminAllowedHosts">) {
  const names = new Set(config.adminAllowedHosts);
  // A wildcard bind address is nobody's name; an IPv6 literal is written in brackets in Host.
  if (!isWildcard(config.adminHost)) {
    const host = config.adminHost.toLowerCase();
    names.add(host.includes(":") && !host.startsWith("[") ? `[${host}]` : host);
  }
  return names;
}

// Health checks show nothing the proxy listener does not show to anyone, and probes (e.g.
// Kubernetes) send the pod's address as Host.
const ANY_HOST = new Set(["/healthz", "/readyz"]);

/** Refuses (421) a request whose Host is not one of the admin's names (health checks excepted). */
export function requireAdminHost(config: Pick<Config, "adminHost" | "adminAllowedHosts">) {
  const names = adminHostNames(config);
  return createMiddleware(async function requireAdminHost(c, next) {
    const host = c.req.header("host");
    // No Host (HTTP/1.0) comes from no browser, and browsers are what this check is about.
    if (host !== undefined && host !== "" && !ANY_HOST.has(c.req.path)) {
      const name = hostName(host);
      if (!isLoopback(name) && !names.has(name)) {
        throw new AdminError(
          421,
          `This admin listener does not answer to the host name ${
            JSON.stringify(name.slice(0, 100))
          }: it answers to localhost, 127.0.0.1, [::1] and ADMIN_HOST. To reach it by this ` +
            "name, add the name to ADMIN_ALLOWED_HOSTS.",
        );
      }
    }
    await next();
  });
}
