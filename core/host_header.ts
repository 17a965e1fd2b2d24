/**
 * The Host header on both listeners: a host name or address with an optional port, nothing else.
 * The request URL is built from it, so `Host: x/y` would move the path (`/y/api/tags`) and
 * `Host: a b` would make the URL unparseable deep inside a handler.
 * @module
 */
import { createMiddleware } from "hono/factory";

const HOST = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

// Clients send the same Host on every request: the last good one skips the URL parse.
let lastValid = "";

/** Whether a Host header value is usable (absent or empty counts as usable: HTTP/1.0). */
export function isValidHost(host: string | undefined): boolean {
  if (host === undefined || host === "" || host === lastValid) return true;
  if (!HOST.test(host)) return false;
  try {
    new URL(`http://${host}/`); // the port range, IPv6 syntax
    lastValid = host;
    return true;
  } catch {
    return false;
  }
}

/** Refuses a request with an unusable Host header via `fail` (a 400). */
export function requireValidHost(fail: (message: string) => Error) {
  return createMiddleware(async function requireValidHost(c, next) {
    if (!isValidHost(c.req.header("host"))) {
      throw fail("Invalid Host header: expected a host name or address and an optional port");
    }
    await next();
  });
}
