/**
 * Fixtures for store-level admission tests: a fixed window, a fixed ask, a request start, keys.
 * @module
 */
import type { Ask } from "../../core/admission.ts";
import { policyWith } from "../../core/api_keys.ts";
import { type NewApiKey, OPEN_POLICY } from "../../core/model.ts";
import type { RequestStart, WindowKeys } from "../../core/store.ts";

/** The window every store test admits in unless it says otherwise. */
export const JAN_15: WindowKeys = {
  minute: "2025-01-15T10:00",
  day: "2025-01-15",
  monthStart: "2025-01-01",
  monthEnd: "2025-02-01",
};

/** When JAN_15 admissions start (inside its minute). */
export const STARTED_AT = "2025-01-15T10:00:00.000Z";

/** `now` for admissions: the start itself (keys created before it are usable). */
export const NOW_MS = Date.parse(STARTED_AT);

/** A generating request with a 10-token prompt and a 100-token output allowance. */
export const ASK: Ask = {
  promptTokens: 10,
  generates: true,
  clientMaxTokens: null,
  maxReservedTokens: 100,
};

/** A request start of `keyId` in `windows`. */
export const start = (
  keyId: number,
  windows: WindowKeys = JAN_15,
  instanceId = "test-instance",
): RequestStart => ({
  keyId,
  windows,
  route: "/api/chat",
  model: "llama3",
  startedAt: windows === JAN_15 ? STARTED_AT : `${windows.day}T10:00:00.000Z`,
  instanceId,
  memberId: null,
});

let keySeq = 0;

/** A new key with flat admin fields (`daily_request_limit: 5`, `max_concurrent: 2`…). */
export function newKey(fields: Record<string, unknown> = {}): NewApiKey {
  keySeq++;
  return {
    name: `key ${keySeq}`,
    prefix: `lq_${keySeq}`,
    key_hash: `hash-${keySeq}-${crypto.randomUUID()}`,
    expires_at: null,
    created_at: "2025-01-01T00:00:00.000Z",
    policy: policyWith(OPEN_POLICY, fields),
  };
}

/** `p`, or a rejection after `ms` naming `what`: a test fails instead of hanging. */
export function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
