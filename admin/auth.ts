/**
 * Bearer credentials on the admin listener: `Authorization: Bearer <ADMIN_PASSWORD>` for the JSON
 * API, and the same or METRICS_TOKEN for /metrics. Every check goes through the one
 * CredentialGuard, which throttles guessing.
 * @module
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { Deps } from "../deps.ts";
import type { CredentialGuard, CredentialSource } from "./credential_guard.ts";
import { AdminError } from "./errors.ts";
import { clientAddress } from "./request_info.ts";

/** The challenge sent with every 401 for a missing or wrong bearer. */
const CHALLENGE = { "www-authenticate": 'Bearer realm="llm-quota admin"' };

/** The bearer token a request carries, or null when it carries none. */
export function bearerToken(headers: Headers): string | null {
  const match = /^bearer\s+(.+)$/i.exec((headers.get("authorization") ?? "").trim());
  return match ? match[1] : null;
}

/** The 429 for an attempt the guard refused unchecked. */
export function throttledError(retryAfterSeconds: number): AdminError {
  return new AdminError(
    429,
    `Too many wrong admin credentials lately: none are checked for ${retryAfterSeconds} s`,
    undefined,
    { "retry-after": String(retryAfterSeconds) },
  );
}

/**
 * Checks the request's bearer against `secrets` through the guard; returns the index of the
 * secret that matched, or throws 401 (missing or wrong, with `required` as the message) or 429.
 */
export function checkBearer(
  c: Context,
  guard: CredentialGuard,
  secrets: readonly string[],
  source: CredentialSource,
  required: string,
): number {
  const given = bearerToken(c.req.raw.headers);
  // No credential is no guess: it is answered 401 without touching the budget.
  if (given === null) throw new AdminError(401, required, undefined, CHALLENGE);
  const verdict = guard.check({ given, secrets, source, address: clientAddress(c) });
  if (verdict.kind === "throttled") throw throttledError(verdict.retryAfterSeconds);
  if (verdict.kind === "wrong") throw new AdminError(401, required, undefined, CHALLENGE);
  return verdict.index;
}

/** Refuses API calls without the admin password (401), or while guessing is throttled (429). */
export function requireAdminBearer(deps: Deps, guard: CredentialGuard) {
  return createMiddleware(async function requireAdminBearer(c, next) {
    checkBearer(
      c,
      guard,
      [deps.config.adminPassword],
      "api",
      "Admin authentication required: Authorization: Bearer <ADMIN_PASSWORD>",
    );
    await next();
  });
}
