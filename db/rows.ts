/**
 * Row conversions shared by the adapters.
 * @module
 */
import type { ApiKey, KeyUsage } from "./store.ts";

const toIso = (v: unknown): string | null =>
  v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : String(v);
const toLimit = (v: unknown): number | null => v === null || v === undefined ? null : Number(v);

/** Converts a database row of api_keys to an ApiKey (never carries the hash). */
export function toApiKey(row: Record<string, unknown>): ApiKey {
  return {
    id: Number(row.id),
    name: String(row.name),
    prefix: String(row.prefix),
    active: row.active === true || Number(row.active) === 1,
    created_at: toIso(row.created_at)!,
    expires_at: toIso(row.expires_at),
    last_used_at: toIso(row.last_used_at),
    daily_request_limit: toLimit(row.daily_request_limit),
    monthly_request_limit: toLimit(row.monthly_request_limit),
    daily_token_limit: toLimit(row.daily_token_limit),
    monthly_token_limit: toLimit(row.monthly_token_limit),
  };
}

/** Builds the usage map from rows of (key_id, window 'day'|'month', requests, prompt, completion). */
export function toUsageMap(rows: Array<Record<string, unknown>>): Map<number, KeyUsage> {
  const map = new Map<number, KeyUsage>();
  const empty = () => ({ requests: 0, prompt_tokens: 0, completion_tokens: 0, tokens: 0 });
  for (const row of rows) {
    const id = Number(row.key_id);
    let usage = map.get(id);
    if (!usage) map.set(id, usage = { today: empty(), month: empty() });
    const p = Number(row.prompt_tokens), c = Number(row.completion_tokens);
    usage[row.window === "day" ? "today" : "month"] = {
      requests: Number(row.requests),
      prompt_tokens: p,
      completion_tokens: c,
      tokens: p + c,
    };
  }
  return map;
}

/** Columns an admin patch may touch, in a fixed order (names are never taken from input). */
export const PATCHABLE_COLUMNS = [
  "name",
  "expires_at",
  "active",
  "daily_request_limit",
  "monthly_request_limit",
  "daily_token_limit",
  "monthly_token_limit",
] as const;
