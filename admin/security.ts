/**
 * Response headers that keep the admin pages from being framed, fed foreign scripts, or cached.
 * @module
 */
import { createMiddleware } from "hono/factory";
import { secureHeaders } from "hono/secure-headers";

/**
 * A strict Content-Security-Policy (scripts and styles only from our own /static, no inline code,
 * no eval: htmx is configured for that in the layout), no framing, and a same-origin referrer.
 */
export function securityHeaders() {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'"],
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    xFrameOptions: "DENY",
    referrerPolicy: "same-origin",
    // HSTS belongs to whoever terminates TLS; the admin listener itself speaks plain http.
    strictTransportSecurity: false,
  });
}

/**
 * HTML answers are never cached (they carry CSRF tokens and, once, a new key's plaintext), and
 * they differ by HX-Request (fragment or page), which caches must know.
 */
export function noStoreHtml() {
  return createMiddleware(async function noStoreHtml(c, next) {
    await next();
    if (c.res.headers.get("content-type")?.startsWith("text/html")) {
      c.res.headers.set("cache-control", "no-store");
      c.res.headers.append("vary", "HX-Request");
    }
  });
}
