/**
 * Creating keys, checking whether a key may be used, and the flat form admins see them in.
 * @module
 */
import type { Store } from "./store.ts";
import type { ApiKey, ApiKeyPatch, KeyUsage, Policy } from "./model.ts";
import { OPEN_POLICY } from "./model.ts";
import { LIMIT_KINDS, type LimitFields, limitFieldsOf, withLimitFields } from "./limits.ts";
import { requestWindows } from "./windows.ts";
import { displayPrefix, generateApiKey, hashApiKey } from "./secrets.ts";
import {
  type DelegationInput,
  type DelegationView,
  delegationView,
  delegationWith,
  touchesDelegation,
} from "./delegation.ts";

/** The policy fields of the admin API besides the limits (absent: unchanged, null: none). */
export interface PolicyFields {
  models?: string[] | null;
  max_output_tokens?: number | null;
  max_num_ctx?: number | null;
  idle_days?: number | null;
}

/** What an admin gives to create a key: a name, an expiry, limits as flat fields, caps. */
export type CreateKeyInput = PolicyFields & Record<string, unknown> & {
  name: string;
  expires_at?: string | null;
};

/** Whether admin input sets any policy field (a limit or a cap). */
export function touchesPolicy(fields: Record<string, unknown>): boolean {
  return [...LIMIT_KINDS.map((k) => k.field), ...POLICY_FIELDS].some((f) =>
    fields[f] !== undefined
  );
}

/** The policy's caps besides its limits and model list, each a flat field of the admin API. */
export const CAP_FIELDS = [
  "max_output_tokens",
  "max_num_ctx",
  "idle_days",
] as const satisfies ReadonlyArray<keyof Policy>;

/** The name of a cap field. */
export type CapField = typeof CAP_FIELDS[number];

const POLICY_FIELDS = ["models", ...CAP_FIELDS] as const;

/** The policy after applying flat admin fields to `base`. */
export function policyWith(base: Policy, fields: Record<string, unknown>): Policy {
  const p: Policy = { ...base, limits: withLimitFields(base.limits, fields) };
  for (const name of POLICY_FIELDS) {
    if (fields[name] !== undefined) (p as unknown as Record<string, unknown>)[name] = fields[name];
  }
  return p;
}

/** Creates a key and returns it with its plaintext, which is never stored. */
export async function createApiKey(
  store: Store,
  input: CreateKeyInput,
  now: Temporal.Instant,
  secretsKey = "",
): Promise<ApiKey & { key: string }> {
  const key = generateApiKey();
  const created = await store.createKey({
    name: input.name,
    prefix: displayPrefix(key),
    key_hash: hashApiKey(key),
    created_at: new Date(now.epochMilliseconds).toISOString(),
    expires_at: input.expires_at ?? null,
    policy: policyWith(OPEN_POLICY, input),
    group_id: typeof input.group_id === "number" ? input.group_id : null,
    delegation: touchesDelegation(input)
      ? delegationWith(null, input as DelegationInput, secretsKey)
      : null,
  });
  return { ...created, key };
}

/** What an admin changes on a key: its own fields and flat policy fields (absent: unchanged). */
export type KeyChanges = Record<string, unknown> & {
  name?: string;
  expires_at?: string | null;
  active?: boolean;
};

/**
 * Applies an admin's changes to a key; flat policy fields change its stored policy. Returns the
 * key as stored, or null when it does not exist.
 */
export async function updateApiKey(
  store: Store,
  id: number,
  changes: KeyChanges,
  now: Temporal.Instant,
  secretsKey = "",
): Promise<ApiKey | null> {
  const { name, expires_at, active } = changes;
  const patch: ApiKeyPatch = { name, expires_at, active };
  if (changes.group_id !== undefined) patch.group_id = changes.group_id as number | null;
  // Activating restarts an idle key's clock.
  if (active === true) patch.activated_at = new Date(now.epochMilliseconds).toISOString();
  if (touchesPolicy(changes) || touchesDelegation(changes)) {
    const current = await store.getKey(id);
    if (!current) return null;
    if (touchesPolicy(changes)) patch.policy = policyWith(current.policy, changes);
    if (touchesDelegation(changes)) {
      patch.delegation = delegationWith(current.delegation, changes as DelegationInput, secretsKey);
    }
  }
  return await store.updateKey(id, patch);
}

const MINUTE_MS = 60_000;

/**
 * Whether an admission starting at `startedAt` writes it as the key's last use. `last_used_at`
 * is kept to the minute: written only when the stored one is of an earlier minute (or none),
 * which spares all but one admission a minute per key a row write. Idle keys (`idle_days`) are
 * then judged at most a minute early. The PostgreSQL adapter applies the same rule in SQL.
 */
export function writesLastUse(stored: string | null, startedAt: string): boolean {
  if (stored === null) return true;
  return Math.floor(Date.parse(stored) / MINUTE_MS) < Math.floor(Date.parse(startedAt) / MINUTE_MS);
}

/** A key's state as shown to admins; `idle`: unused for longer than its `idle_days`. */
export type KeyStatus = "active" | "deactivated" | "expired" | "idle";

const DAY_MS = 24 * 60 * 60 * 1000;

/** When an idle key stops working (ms since epoch); null when it cannot go idle. */
export function idleAtMs(
  key: Pick<ApiKey, "created_at" | "last_used_at" | "activated_at"> & {
    policy: Pick<Policy, "idle_days">;
  },
): number | null {
  const days = key.policy.idle_days;
  if (days === null) return null;
  const since = [key.created_at, key.last_used_at, key.activated_at]
    .filter((t): t is string => t !== null).map(Date.parse);
  return Math.max(...since) + days * DAY_MS;
}

/** Whether a key is usable at `nowMs`, deactivated, past its expiry, or idle too long. */
export function keyStatusAt(key: ApiKey, nowMs: number): KeyStatus {
  if (!key.active) return "deactivated";
  if (key.expires_at && Date.parse(key.expires_at) <= nowMs) return "expired";
  const idleAt = idleAtMs(key);
  if (idleAt !== null && idleAt <= nowMs) return "idle";
  return "active";
}

/** Whether a key is usable now, deactivated, past its expiry, or idle too long. */
export function keyStatus(key: ApiKey, now: Temporal.Instant): KeyStatus {
  return keyStatusAt(key, now.epochMilliseconds);
}

/** A key in the flat form of the admin API: limits as fields, the policy's caps beside them. */
export type KeyFields =
  & Omit<ApiKey, "policy" | "delegation">
  & LimitFields
  & Required<PolicyFields>
  & DelegationView;

/** The flat admin form of a key. */
export function keyFields(key: ApiKey): KeyFields {
  const { policy, delegation, ...rest } = key;
  return {
    ...rest,
    ...delegationView(delegation),
    ...limitFieldsOf(policy),
    models: policy.models,
    max_output_tokens: policy.max_output_tokens,
    max_num_ctx: policy.max_num_ctx,
    idle_days: policy.idle_days,
  } as KeyFields;
}

/** A key with its status and today's and this month's usage, as admins see it. */
export type KeyView = KeyFields & { status: KeyStatus; usage: KeyUsage };

/** Usage of an owner that used nothing yet. */
export const noUsage = (): KeyUsage => ({
  today: { requests: 0, prompt_tokens: 0, completion_tokens: 0, tokens: 0 },
  month: { requests: 0, prompt_tokens: 0, completion_tokens: 0, tokens: 0 },
});

/** A key as admins see it, given its usage. */
export function keyView(key: ApiKey, usage: KeyUsage | undefined, now: Temporal.Instant): KeyView {
  return { ...keyFields(key), status: keyStatus(key, now), usage: usage ?? noUsage() };
}

/** Lists every key with its status and usage in the current day and month of `timeZone`. */
export async function listKeyViews(
  store: Store,
  now: Temporal.Instant,
  timeZone: string,
): Promise<KeyView[]> {
  const [keys, usage] = await Promise.all([
    store.listKeys(),
    store.usageByOwner("key", requestWindows(now, timeZone)),
  ]);
  return keys.map((k) => keyView(k, usage.get(k.id), now));
}

/**
 * Parses an expiry given by an admin. A date alone means the key works through that day in
 * `timeZone`; a date-time without offset is local to `timeZone`. Returns ISO UTC, or throws.
 */
export function parseExpiry(text: string, timeZone: string): string {
  const value = text.trim();
  let instant: Temporal.Instant;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    instant = Temporal.PlainDate.from(value).add({ days: 1 }).toZonedDateTime({ timeZone })
      .toInstant();
  } else if (/(Z|[+-]\d{2}:?\d{2})$/i.test(value)) {
    instant = Temporal.Instant.from(value);
  } else {
    instant = Temporal.PlainDateTime.from(value).toZonedDateTime(timeZone).toInstant();
  }
  return new Date(instant.epochMilliseconds).toISOString();
}
