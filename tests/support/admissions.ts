/**
 * Fixtures for store-level admission tests: a fixed window, a fixed ask, a request start.
 * @module
 */
import type { ApiKey, RequestStart, WindowKeys } from "../../db/store.ts";
import { type Ask, decideAdmission, type WindowUsage } from "../../core/quota.ts";

/** The window every store test admits in unless it says otherwise. */
export const JAN_15: WindowKeys = {
  day: "2025-01-15",
  monthStart: "2025-01-01",
  monthEnd: "2025-02-01",
};

/** A generating request with a 10-token prompt and a 100-token output allowance. */
export const ASK: Ask = {
  promptTokens: 10,
  generates: true,
  clientMaxTokens: null,
  maxReservedTokens: 100,
};

/** The real admission rule for ASK. */
export const decideReal = (key: ApiKey, usage: WindowUsage) => decideAdmission(key, usage, ASK);

/** A request start of `keyId` in `windows`. */
export const start = (keyId: number, windows: WindowKeys = JAN_15): RequestStart => ({
  keyId,
  windows,
  route: "/api/chat",
  model: "llama3",
  startedAt: "2025-01-15T10:00:00.000Z",
});

/** `p`, or a rejection after `ms` naming `what`: a test fails instead of hanging. */
export function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
