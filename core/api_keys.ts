/**
 * Creating keys and checking whether a key may be used.
 * @module
 */
import type { ApiKey, KeyUsage, Store } from "../db/store.ts";
import { windowsAt } from "./windows.ts";
import type { Limits } from "./quota.ts";
import { displayPrefix, generateApiKey, hashApiKey } from "./secrets.ts";

/** What an admin gives to create a key. */
export interface CreateKeyInput extends Partial<Limits> {
  name: string;
  expires_at?: string | null;
}

/** Creates a key and returns it with its plaintext, which is never stored. */
export async function createApiKey(
  store: Store,
  input: CreateKeyInput,
  now: Temporal.Instant,
): Promise<ApiKey & { key: string }> {
  const key = generateApiKey();
  const created = await store.createKey({
    name: input.name,
    prefix: displayPrefix(key),
    key_hash: hashApiKey(key),
    created_at: new Date(now.epochMilliseconds).toISOString(),
    expires_at: input.expires_at ?? null,
    daily_request_limit: input.daily_request_limit ?? null,
    monthly_request_limit: input.monthly_request_limit ?? null,
    daily_token_limit: input.daily_token_limit ?? null,
    monthly_token_limit: input.monthly_token_limit ?? null,
  });
  return { ...created, key };
}

/** A key's state as shown to admins. */
export type KeyStatus = "active" | "deactivated" | "expired";

/** Whether a key is usable now, deactivated, or past its expiry. */
export function keyStatus(key: ApiKey, now: Temporal.Instant): KeyStatus {
  if (!key.active) return "deactivated";
  if (key.expires_at && Date.parse(key.expires_at) <= now.epochMilliseconds) return "expired";
  return "active";
}

/** A key with its status and today's and this month's usage, as admins see it. */
export type KeyView = ApiKey & { status: KeyStatus; usage: KeyUsage };

const noUsage = (): KeyUsage => ({
  today: { requests: 0, prompt_tokens: 0, completion_tokens: 0, tokens: 0 },
  month: { requests: 0, prompt_tokens: 0, completion_tokens: 0, tokens: 0 },
});

/** Lists every key with its status and usage in the current day and month of `timeZone`. */
export async function listKeyViews(
  store: Store,
  now: Temporal.Instant,
  timeZone: string,
): Promise<KeyView[]> {
  const [keys, usage] = await Promise.all([
    store.listKeys(),
    store.usageByKey(windowsAt(now, timeZone)),
  ]);
  return keys.map((k) => ({
    ...k,
    status: keyStatus(k, now),
    usage: usage.get(k.id) ?? noUsage(),
  }));
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
