/**
 * Row conversions shared by the adapters.
 * @module
 */
import type { Snapshot } from "../core/admission.ts";
import type { ApiKey, KeyUsage, Limit, Policy } from "../core/model.ts";
import type { AuditDifference, LiveUsage } from "../core/store.ts";

const toIso = (v: unknown): string | null =>
  v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : String(v);
const numberOrNull = (v: unknown): number | null =>
  typeof v === "number" && Number.isSafeInteger(v) ? v : null;

/** A stored policy (JSON text); fields missing from older rows read as "no limit". */
export function policyFromJson(text: unknown): Policy {
  let raw: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(String(text ?? "{}"));
    if (parsed && typeof parsed === "object") raw = parsed;
  } catch {
    // A row nobody wrote through the gateway: read as no limits rather than failing every request.
  }
  const limits = Array.isArray(raw.limits)
    ? (raw.limits as Limit[]).filter((l) =>
      l && typeof l.metric === "string" && typeof l.window === "string" &&
      Number.isSafeInteger(l.max)
    )
    : [];
  return {
    limits: limits.map((l) => ({ metric: l.metric, window: l.window, max: l.max })),
    models: Array.isArray(raw.models) ? raw.models.map(String) : null,
    max_output_tokens: numberOrNull(raw.max_output_tokens),
    max_num_ctx: numberOrNull(raw.max_num_ctx),
    idle_days: numberOrNull(raw.idle_days),
  };
}

/** The stored text of a policy. */
export function policyToJson(policy: Policy): string {
  return JSON.stringify(policy);
}

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
    activated_at: toIso(row.activated_at),
    policy: policyFromJson(row.policy),
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
  "activated_at",
  "policy",
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

/**
 * Admission's view of usage from one row of sums (see the adapters' SQL): day and month from
 * usage_daily, the minute from usage_minute, requests in flight from pending ledger rows.
 */
export function toSnapshot(row: Record<string, unknown>): Snapshot {
  const n = (name: string) => Number(row[name] ?? 0);
  return {
    minute: {
      requests: n("minute_requests"),
      tokens: n("minute_tokens"),
      reserved: n("minute_reserved"),
    },
    day: { requests: n("day_requests"), tokens: n("day_tokens"), reserved: n("day_reserved") },
    month: {
      requests: n("month_requests"),
      tokens: n("month_tokens"),
      reserved: n("month_reserved"),
    },
    inFlight: n("in_flight"),
  };
}

/** Live usage per key from rows of (key_id, in_flight, minute_requests, minute_tokens). */
export function toLiveUsageMap(rows: Array<Record<string, unknown>>): Map<number, LiveUsage> {
  const map = new Map<number, LiveUsage>();
  for (const row of rows) {
    const id = Number(row.key_id);
    const live = map.get(id) ?? { inFlight: 0, minuteRequests: 0, minuteTokens: 0 };
    live.inFlight += Number(row.in_flight ?? 0);
    live.minuteRequests += Number(row.minute_requests ?? 0);
    live.minuteTokens += Number(row.minute_tokens ?? 0);
    map.set(id, live);
  }
  return map;
}
