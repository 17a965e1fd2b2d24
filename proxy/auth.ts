/**
 * API-key authentication: `Authorization: Bearer sk-…`, a bare `Authorization: sk-…`, or `x-api-key`.
 * @module
 */
import { createMiddleware } from "hono/factory";
import type { ApiKey } from "../core/model.ts";
import type { Deps } from "../deps.ts";
import { keyStatus } from "../core/api_keys.ts";
import { hashApiKey } from "../core/secrets.ts";
import type { RequestVariables } from "../ops/request_record.ts";
import { ProxyError } from "./errors.ts";

/** Hono variables the proxy sets (`request`: the request's log record, see ops/request_log.ts). */
export type ProxyEnv = { Variables: { apiKey: ApiKey } & RequestVariables };

/** Picks the presented key out of the request headers; null when none was sent. */
export function presentedKey(headers: Headers): string | null {
  const candidates: string[] = [];
  const auth = headers.get("authorization")?.trim();
  if (auth) {
    candidates.push(/^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, "").trim() : auth);
  }
  const xApiKey = headers.get("x-api-key")?.trim();
  if (xApiKey) candidates.push(xApiKey);
  // OpenAI-style clients may send a placeholder bearer ("ollama") next to a real x-api-key.
  return candidates.find((c) => c.startsWith("sk-")) ?? candidates[0] ?? null;
}

/** Requires a valid, active, unexpired key and puts it on the context. */
export function requireApiKey(deps: Deps) {
  return createMiddleware<ProxyEnv>(async function requireApiKey(c, next) {
    const presented = presentedKey(c.req.raw.headers);
    if (!presented) {
      throw new ProxyError(
        401,
        "Missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
        "missing_api_key",
      );
    }
    let key: ApiKey | null;
    try {
      key = await deps.store.findKeyByHash(hashApiKey(presented));
    } catch (err) {
      throw databaseUnavailable(deps, err);
    }
    if (!key) throw new ProxyError(401, "Invalid API key", "invalid_api_key");
    refuseUnusableKey(key, deps.clock.now());
    c.set("apiKey", key);
    await next();
  });
}

/** Throws the 401 for a deactivated or expired key; returns for a usable one. */
export function refuseUnusableKey(key: ApiKey, now: Temporal.Instant): void {
  const status = keyStatus(key, now);
  if (status === "deactivated") {
    throw new ProxyError(401, "API key is deactivated", "api_key_deactivated");
  }
  if (status === "idle") {
    throw new ProxyError(
      401,
      `API key unused for ${key.policy.idle_days} days (idle_days): it counts as expired; an admin can reactivate it`,
      "api_key_idle",
    );
  }
  if (status === "expired") {
    throw new ProxyError(401, `API key expired at ${key.expires_at}`, "api_key_expired");
  }
}

/** The 503 answered when the database cannot be asked: fail closed, never admit unchecked. */
export function databaseUnavailable(deps: Deps, err: unknown): ProxyError {
  deps.log.error("database unavailable", { error: (err as Error)?.message ?? String(err) });
  return new ProxyError(
    503,
    "Quota database unavailable; request not admitted, try again shortly",
    "database_unavailable",
    { "retry-after": "5" },
  );
}
