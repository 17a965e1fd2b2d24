/**
 * Row conversions shared by the adapters.
 * @module
 */
import type { WindowUsage } from "../core/quota.ts";
import {
  type ApiKey,
  type AuditDifference,
  type KeyUsage,
  SETTING_DEFAULTS,
  type Settings,
} from "./store.ts";

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

/** Settings from stored (name, value) rows: unknown names ignored, missing ones their default. */
export function toSettings(rows: Array<Record<string, unknown>>): Settings {
  const stored = new Map(rows.map((r) => [String(r.name), r.value]));
  const settings = { ...SETTING_DEFAULTS };
  for (const name of Object.keys(settings) as Array<keyof Settings>) {
    const value = stored.get(name);
    if (value !== undefined && value !== null) settings[name] = String(value);
  }
  return settings;
}

/** The (name, value) rows to write for a settings patch, values as text (the column's type). */
export function settingRows(patch: Partial<Settings>): Array<[string, string]> {
  return Object.entries(patch).filter(([, value]) => value !== undefined)
    .map(([name, value]) => [name, String(value)]);
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

const AUDITED = ["requests", "prompt_tokens", "completion_tokens", "reserved_tokens"] as const;

/** Compares counter columns (`requests`…) with ledger columns (`l_requests`…) row by row. */
export function auditDifferences(rows: Array<Record<string, unknown>>): AuditDifference[] {
  const out: AuditDifference[] = [];
  for (const row of rows) {
    for (const field of AUDITED) {
      const counter = Number(row[field] ?? 0), ledger = Number(row[`l_${field}`] ?? 0);
      if (counter !== ledger) {
        out.push({ key_id: Number(row.key_id), day: String(row.day), field, counter, ledger });
      }
    }
  }
  return out;
}

/**
 * Counters next to their recomputation from request_log, for every (key, day) on either side.
 * `charged` is compared with `= TRUE`, which both SQLite (1) and PostgreSQL (boolean) accept.
 */
export const AUDIT_SQL = `
WITH ledger AS (
  SELECT key_id, day,
    SUM(CASE WHEN state = 'pending' OR charged = TRUE THEN 1 ELSE 0 END) AS requests,
    SUM(CASE WHEN state = 'settled' AND charged = TRUE THEN prompt_tokens ELSE 0 END)
      AS prompt_tokens,
    SUM(CASE WHEN state = 'settled' AND charged = TRUE THEN completion_tokens ELSE 0 END)
      AS completion_tokens,
    SUM(CASE WHEN state = 'pending' THEN reserved_tokens ELSE 0 END) AS reserved_tokens
  FROM request_log GROUP BY key_id, day
)
SELECT u.key_id, u.day, u.requests, u.prompt_tokens, u.completion_tokens, u.reserved_tokens,
       l.requests AS l_requests, l.prompt_tokens AS l_prompt_tokens,
       l.completion_tokens AS l_completion_tokens, l.reserved_tokens AS l_reserved_tokens
  FROM usage_daily u LEFT JOIN ledger l ON l.key_id = u.key_id AND l.day = u.day
UNION ALL
SELECT l.key_id, l.day, 0, 0, 0, 0, l.requests, l.prompt_tokens, l.completion_tokens,
       l.reserved_tokens
  FROM ledger l
 WHERE NOT EXISTS (SELECT 1 FROM usage_daily u WHERE u.key_id = l.key_id AND u.day = l.day)`;

/** Admission's view of usage from one row of day and month sums (see the adapters' SQL). */
export function toWindowUsageRow(row: Record<string, unknown>): WindowUsage {
  return {
    day: {
      requests: Number(row.day_requests ?? 0),
      tokens: Number(row.day_tokens ?? 0),
      reserved: Number(row.day_reserved ?? 0),
    },
    month: {
      requests: Number(row.month_requests ?? 0),
      tokens: Number(row.month_tokens ?? 0),
      reserved: Number(row.month_reserved ?? 0),
    },
  };
}
