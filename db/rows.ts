/**
 * Row conversions and SQL shared by the adapters.
 * @module
 */
import { emptySnapshot, type Scope, type Snapshot } from "../core/admission.ts";
import type { ApiKey, Delegation, Group, KeyUsage, Limit, Member, Policy } from "../core/model.ts";
import { OPENWEBUI_HEADERS } from "../core/model.ts";
import type { AuditDifference, DayModelUsage, LiveUsage } from "../core/store.ts";
import type { StoredUpstream } from "../core/upstreams/records.ts";

const toIso = (v: unknown): string | null =>
  v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : String(v);
const numberOrNull = (v: unknown): number | null =>
  typeof v === "number" && Number.isSafeInteger(v) ? v : null;
const toBool = (v: unknown) => v === true || Number(v) === 1;

function jsonOf(text: unknown): Record<string, unknown> | null {
  if (text === null || text === undefined) return null;
  try {
    const parsed = JSON.parse(String(text));
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : null;
  } catch {
    // A row nobody wrote through the gateway: read as unset rather than failing every request.
    return null;
  }
}

/** Stored limits (a JSON array), keeping only well-formed entries. */
function limitsOf(v: unknown): Limit[] {
  return Array.isArray(v)
    ? (v as Limit[]).filter((l) =>
      l && typeof l.metric === "string" && typeof l.window === "string" &&
      Number.isSafeInteger(l.max)
    ).map((l) => ({ metric: l.metric, window: l.window, max: l.max }))
    : [];
}

/**
 * Policies already read, by their stored text: every admission reads its key's row (and its
 * group's) in its transaction, and the text changes only when an admin edits it, so the parse
 * runs once per text. The values are frozen because they are shared; the map is dropped whole
 * when full (a cache, so no eviction order to keep).
 */
const parsedPolicies = new Map<string, Policy>();
const PARSED_POLICIES_MAX = 4096;

/** A stored policy (JSON text); fields missing from older rows read as "no limit". */
export function policyFromJson(text: unknown): Policy {
  const stored = text === null || text === undefined ? "{}" : String(text);
  const known = parsedPolicies.get(stored);
  if (known) return known;
  const raw = jsonOf(stored) ?? {};
  const policy: Policy = Object.freeze({
    limits: Object.freeze(limitsOf(raw.limits).map((l) => Object.freeze(l))) as Limit[],
    models: Array.isArray(raw.models) ? Object.freeze(raw.models.map(String)) as string[] : null,
    max_output_tokens: numberOrNull(raw.max_output_tokens),
    max_num_ctx: numberOrNull(raw.max_num_ctx),
    idle_days: numberOrNull(raw.idle_days),
  });
  if (parsedPolicies.size >= PARSED_POLICIES_MAX) parsedPolicies.clear();
  parsedPolicies.set(stored, policy);
  return policy;
}

/** The stored text of a policy. */
export function policyToJson(policy: Policy): string {
  return JSON.stringify(policy);
}

/** A stored delegation (JSON text), or null. */
function delegationFromJson(text: unknown): Delegation | null {
  const raw = jsonOf(text);
  if (!raw || (raw.identity !== "openwebui-headers" && raw.identity !== "openwebui-jwt")) {
    return null;
  }
  const headers = { ...OPENWEBUI_HEADERS, ...(raw.headers as object ?? {}) };
  return {
    identity: raw.identity,
    trusted_peers: Array.isArray(raw.trusted_peers) ? raw.trusted_peers.map(String) : [],
    headers,
    secret: typeof raw.secret === "string" ? raw.secret : null,
    member_limits: limitsOf(raw.member_limits),
    on_missing_identity: raw.on_missing_identity === "reject" ? "reject" : "unattributed",
  };
}

/** The stored text of a delegation (its secret is already encrypted). */
export function delegationToJson(d: Delegation | null | undefined): string | null {
  return d ? JSON.stringify(d) : null;
}

/** Converts a database row of api_keys to an ApiKey (never carries the hash). */
export function toApiKey(row: Record<string, unknown>): ApiKey {
  return {
    id: Number(row.id),
    name: String(row.name),
    prefix: String(row.prefix),
    active: toBool(row.active),
    created_at: toIso(row.created_at)!,
    expires_at: toIso(row.expires_at),
    last_used_at: toIso(row.last_used_at),
    activated_at: toIso(row.activated_at),
    policy: policyFromJson(row.policy),
    group_id: row.group_id === null || row.group_id === undefined ? null : Number(row.group_id),
    delegation: delegationFromJson(row.delegation),
  };
}

/**
 * ApiKeys of rows read again and again (admission reads its key's row inside every
 * transaction): the ApiKey built from a row is reused, frozen, while the row reads the same.
 */
export class ApiKeyMemo {
  #byId = new Map<number, { row: Record<string, unknown>; key: ApiKey }>();

  /** The ApiKey of `row`: the one built before when every column reads the same, else a new one. */
  of(row: Record<string, unknown>): ApiKey {
    const id = Number(row.id);
    const seen = this.#byId.get(id);
    if (seen && sameColumns(seen.row, row)) return seen.key;
    const key = toApiKey(row);
    // Shared by every request of the key from now on: nothing of it may be changed in place.
    const d = key.delegation;
    if (d) {
      for (const l of d.member_limits) Object.freeze(l);
      Object.freeze(d.member_limits);
      Object.freeze(d.trusted_peers);
      Object.freeze(d.headers);
      Object.freeze(d);
    }
    Object.freeze(key);
    if (this.#byId.size >= API_KEY_MEMO_MAX) this.#byId.clear();
    this.#byId.set(id, { row, key });
    return key;
  }
}

/** Keys remembered at most; a full memo starts over rather than tracking recency. */
const API_KEY_MEMO_MAX = 10_000;

/** Whether two rows of the same statement hold the same values (timestamps by their time). */
function sameColumns(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  for (const column in b) {
    const x = a[column], y = b[column];
    if (x === y) continue;
    if (x instanceof Date && y instanceof Date && x.getTime() === y.getTime()) continue;
    return false;
  }
  return true;
}

/** Converts a row of key_groups. */
export function toGroup(row: Record<string, unknown>): Group {
  return {
    id: Number(row.id),
    name: String(row.name),
    policy: policyFromJson(row.policy),
    created_at: toIso(row.created_at)!,
  };
}

/** Converts a row of key_members. */
export function toMember(row: Record<string, unknown>): Member {
  const limits = row.limits === null || row.limits === undefined
    ? null
    : limitsOf(JSON.parse(String(row.limits)));
  return {
    id: Number(row.id),
    key_id: Number(row.key_id),
    external_id: String(row.external_id),
    email: row.email === null ? null : String(row.email),
    name: row.name === null ? null : String(row.name),
    role: row.role === null ? null : String(row.role),
    blocked: toBool(row.blocked),
    limits,
    created_at: toIso(row.created_at)!,
    last_seen_at: toIso(row.last_seen_at),
  };
}

/** Builds the usage map from rows of (owner_id, window 'day'|'month', requests, prompt, completion). */
export function toUsageMap(rows: Array<Record<string, unknown>>): Map<number, KeyUsage> {
  const map = new Map<number, KeyUsage>();
  const empty = () => ({ requests: 0, prompt_tokens: 0, completion_tokens: 0, tokens: 0 });
  for (const row of rows) {
    const id = Number(row.owner_id);
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
  "group_id",
  "delegation",
] as const;

const AUDITED = ["requests", "prompt_tokens", "completion_tokens", "reserved_tokens"] as const;

/** Compares counter columns (`requests`…) with ledger columns (`l_requests`…) row by row. */
export function auditDifferences(rows: Array<Record<string, unknown>>): AuditDifference[] {
  const out: AuditDifference[] = [];
  for (const row of rows) {
    for (const field of AUDITED) {
      const counter = Number(row[field] ?? 0), ledger = Number(row[`l_${field}`] ?? 0);
      if (counter !== ledger) {
        out.push({
          scope: String(row.scope) as Scope,
          owner_id: Number(row.owner_id),
          day: String(row.day),
          field,
          counter,
          ledger,
        });
      }
    }
  }
  return out;
}

/**
 * Day counters of every owner next to their recomputation from request_log, for every
 * (owner, day) on either side that the request log still holds (see REQUEST_LOG_RETENTION_DAYS). A ledger row counts for its key, its group and its member.
 * `charged` is compared with `= TRUE`, which both SQLite (1) and PostgreSQL (boolean) accept.
 */
export const AUDIT_SQL = `
WITH horizon AS (
  -- Days before the request log's retention horizon have no ledger rows left to compare.
  SELECT COALESCE(MAX(from_day), '') AS day FROM analytics_horizon WHERE name = 'request_log'
), kept AS (
  SELECT * FROM request_log WHERE day >= (SELECT day FROM horizon)
), owners AS (
  SELECT 'key' AS scope, key_id AS owner_id, day, state, charged, prompt_tokens,
         completion_tokens, reserved_tokens FROM kept
  UNION ALL
  SELECT 'group', group_id, day, state, charged, prompt_tokens, completion_tokens,
         reserved_tokens FROM kept WHERE group_id IS NOT NULL
  UNION ALL
  SELECT 'member', member_id, day, state, charged, prompt_tokens, completion_tokens,
         reserved_tokens FROM kept WHERE member_id IS NOT NULL
), ledger AS (
  SELECT scope, owner_id, day,
    SUM(CASE WHEN state = 'pending' OR charged = TRUE THEN 1 ELSE 0 END) AS requests,
    SUM(CASE WHEN state = 'settled' AND charged = TRUE THEN prompt_tokens ELSE 0 END)
      AS prompt_tokens,
    SUM(CASE WHEN state = 'settled' AND charged = TRUE THEN completion_tokens ELSE 0 END)
      AS completion_tokens,
    SUM(CASE WHEN state = 'pending' THEN reserved_tokens ELSE 0 END) AS reserved_tokens
  FROM owners GROUP BY scope, owner_id, day
), counters AS (
  SELECT scope, owner_id, bucket AS day, requests, prompt_tokens, completion_tokens,
         reserved_tokens
    FROM usage_counters WHERE period = 'day' AND bucket >= (SELECT day FROM horizon)
)
SELECT u.scope, u.owner_id, u.day, u.requests, u.prompt_tokens, u.completion_tokens,
       u.reserved_tokens, l.requests AS l_requests, l.prompt_tokens AS l_prompt_tokens,
       l.completion_tokens AS l_completion_tokens, l.reserved_tokens AS l_reserved_tokens
  FROM counters u LEFT JOIN ledger l
    ON l.scope = u.scope AND l.owner_id = u.owner_id AND l.day = u.day
UNION ALL
SELECT l.scope, l.owner_id, l.day, 0, 0, 0, 0, l.requests, l.prompt_tokens, l.completion_tokens,
       l.reserved_tokens
  FROM ledger l
 WHERE NOT EXISTS (SELECT 1 FROM counters u
                    WHERE u.scope = l.scope AND u.owner_id = l.owner_id AND u.day = l.day)`;

/** Bits of request_log.minute_scopes: which owners counted the request in its minute. */
export const MINUTE_BIT: Record<Scope, number> = { key: 1, group: 2, member: 4 };

/**
 * Snapshots per owner from counter rows (scope, owner_id, period, bucket, requests, tokens,
 * reserved) of one request's windows: the day bucket, the month's days, the minute bucket.
 */
export function snapshotsFromRows(
  rows: Array<Record<string, unknown>>,
  w: { day: string; minute: string },
): Map<string, Snapshot> {
  const out = new Map<string, Snapshot>();
  for (const row of rows) {
    const owner = `${row.scope}:${row.owner_id}`;
    let s = out.get(owner);
    if (!s) out.set(owner, s = emptySnapshot());
    const add = (c: { requests: number; tokens: number; reserved: number }) => {
      c.requests += Number(row.requests);
      c.tokens += Number(row.tokens);
      c.reserved += Number(row.reserved_tokens);
    };
    if (row.period === "minute") add(s.minute);
    else {
      add(s.month);
      if (row.bucket === w.day) add(s.day);
    }
  }
  return out;
}

/** Requests in flight per owner, from rows of (scope, owner_id, in_flight). */
export function addInFlight(
  snapshots: Map<string, Snapshot>,
  rows: Array<Record<string, unknown>>,
): void {
  for (const row of rows) {
    const owner = `${row.scope}:${row.owner_id}`;
    let s = snapshots.get(owner);
    if (!s) snapshots.set(owner, s = emptySnapshot());
    s.inFlight = Number(row.in_flight);
  }
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

/** The owners a request answers to, in lock order (scope, then id). */
export function ownersOf(
  owners: { key: { id: number }; group: { id: number } | null; member: { id: number } | null },
): Array<{ scope: Scope; id: number }> {
  const out: Array<{ scope: Scope; id: number }> = [];
  if (owners.group) out.push({ scope: "group", id: owners.group.id });
  out.push({ scope: "key", id: owners.key.id });
  if (owners.member) out.push({ scope: "member", id: owners.member.id });
  return out;
}

/** The owners a ledger row counted for, and whether each counted it in its minute too. */
export function ledgerOwners(
  row: Record<string, unknown>,
): Array<{ scope: Scope; id: number; minute: boolean }> {
  const mask = Number(row.minute_scopes ?? 0);
  const out: Array<{ scope: Scope; id: number; minute: boolean }> = [];
  const add = (scope: Scope, id: unknown) => {
    if (id !== null && id !== undefined) {
      out.push({ scope, id: Number(id), minute: (mask & MINUTE_BIT[scope]) !== 0 });
    }
  };
  add("group", row.group_id);
  add("key", row.key_id);
  add("member", row.member_id);
  return out;
}

/**
 * A key's requests in flight per local day and model ($1 key); a pending index serves it. The
 * settled ones come from the rollups (core/analytics/key_history.ts).
 */
export const PENDING_USAGE_SQL = `
SELECT day, model, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens,
       SUM(completion_tokens) AS completion_tokens
  FROM request_log
 WHERE key_id = $1 AND state = 'pending'
 GROUP BY day, model
 ORDER BY day, model`;

/** A row of PENDING_USAGE_SQL. */
export function toDayModelUsage(row: Record<string, unknown>): DayModelUsage {
  return {
    day: String(row.day),
    model: String(row.model),
    requests: Number(row.requests),
    prompt_tokens: Number(row.prompt_tokens ?? 0),
    completion_tokens: Number(row.completion_tokens ?? 0),
  };
}

/** Converts a row of upstreams (SQLite's 0/1 and PostgreSQL's booleans alike). */
export function toUpstream(row: Record<string, unknown>): StoredUpstream {
  return {
    id: Number(row.id),
    name: String(row.name),
    url: String(row.url),
    token_sealed: row.token === null || row.token === undefined ? null : String(row.token),
    enabled: row.enabled === true || Number(row.enabled) === 1,
    max_in_flight: row.max_in_flight === null || row.max_in_flight === undefined
      ? null
      : Number(row.max_in_flight),
    created_at: toIso(row.created_at)!,
    updated_at: toIso(row.updated_at)!,
  };
}
