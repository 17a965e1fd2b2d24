/**
 * CORS for browser clients, answered by the gateway for ALLOWED_ORIGINS only.
 * @module
 */
import { createMiddleware } from "hono/factory";

// Every header the OpenAI, Anthropic and Ollama JS clients send from a browser, their stream and
// poll helpers included (Ollama's own list plus the Anthropic ones); a missing one fails the call.
const ALLOW_HEADERS =
  "Authorization, Content-Type, User-Agent, Accept, X-Requested-With, X-Api-Key, OpenAI-Beta, " +
  "anthropic-version, anthropic-beta, anthropic-dangerous-direct-browser-access, " +
  "x-stainless-arch, x-stainless-async, x-stainless-custom-poll-interval, x-stainless-helper, " +
  "x-stainless-helper-method, x-stainless-lang, x-stainless-os, x-stainless-package-version, " +
  "x-stainless-poll-helper, x-stainless-retry-count, x-stainless-runtime, " +
  "x-stainless-runtime-version, x-stainless-timeout, X-Request-Id";
const EXPOSE_HEADERS =
  "x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, " +
  "x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens, retry-after, " +
  "x-request-id";

/** Answers preflights and adds CORS headers for allowed origins; `*` allows every origin. */
export function cors(allowedOrigins: string[]) {
  const allowAll = allowedOrigins.includes("*");
  const allowed = new Set(allowedOrigins);
  return createMiddleware(async function cors(c, next) {
    const origin = c.req.header("origin");
    if (!origin) return await next();
    const ok = allowAll || allowed.has(origin);
    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
      if (!ok) return c.body(null, 403);
      return c.body(null, 204, {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": "GET, POST, HEAD, OPTIONS",
        "access-control-allow-headers": ALLOW_HEADERS,
        "access-control-max-age": "43200",
        "vary": "Origin",
      });
    }
    await next();
    if (ok) {
      c.res.headers.set("access-control-allow-origin", origin);
      c.res.headers.set("access-control-expose-headers", EXPOSE_HEADERS);
      c.res.headers.append("vary", "Origin");
    }
  });
}
