/**
 * Rollup writes and request-log reads shared by the adapters: the facts a settlement or refusal
 * gives the rollup rule (core/analytics/rollup.ts), the rows it adds to, and request-log rows.
 * @module
 */
import {
  addInto,
  bucketOf,
  endingOf,
  type LedgerFacts,
  refusalOf,
  ROLLUP_COLUMNS,
  type RollupIncrement,
} from "../core/analytics/rollup.ts";
import type { RequestRow, RequestStatus } from "../core/analytics/types.ts";
import type { Decision } from "../core/admission.ts";
import type { CounterChanges } from "../core/settlement.ts";
import type { Settlement } from "../core/store.ts";

/** The dimensions of a rollup row. */
export interface RollupKey {
  bucket: number;
  keyId: number;
  model: string;
  route: string;
  groupId: number;
  memberId: number;
  upstream: string;
}

/** The rollup key of a ledger row (columns bucket, key_id, model, route, group_id, member_id, upstream). */
export function rollupKeyOf(row: Record<string, unknown>): RollupKey {
  return {
    bucket: Number(row.bucket ?? bucketOf(Date.parse(String(row.started_at)))),
    keyId: Number(row.key_id),
    model: String(row.model),
    route: String(row.route),
    groupId: Number(row.group_id ?? 0),
    memberId: Number(row.member_id ?? 0),
    upstream: row.upstream === null || row.upstream === undefined ? "" : String(row.upstream),
  };
}

/** The ledger facts of a settlement, given the counter changes it came to. */
export function settledFacts(s: Settlement, c: CounterChanges): LedgerFacts {
  return {
    ending: endingOf(s.charge.status),
    charged: c.charged,
    refusedBy: null,
    promptTokens: c.promptTokens,
    completionTokens: c.completionTokens,
    estimated: s.charge.estimated,
    durationMs: s.durationMs,
    ttfbMs: s.ttfbMs ?? null,
    loadMs: s.timings?.loadMs ?? null,
    promptEvalMs: s.timings?.promptEvalMs ?? null,
    evalMs: s.timings?.evalMs ?? null,
  };
}

/** The ledger facts of a refusal, logged as a ledger row or (beyond the cap) only counted. */
export function refusedFacts(
  decision: Decision & { ok: false },
  logged: boolean,
): LedgerFacts & { status: number } {
  const r = refusalOf(decision);
  return {
    ending: "refused",
    charged: false,
    refusedBy: r.refusedBy,
    logged,
    status: r.status,
    promptTokens: 0,
    completionTokens: 0,
    estimated: false,
    durationMs: null,
    ttfbMs: null,
    loadMs: null,
    promptEvalMs: null,
    evalMs: null,
  };
}

/** Rollup increments added up per rollup row (a batch writes each row once). */
export class RollupBatch {
  readonly rows = new Map<string, { key: RollupKey; inc: number[] }>();

  /** Adds `inc` to the row of `key`. */
  add(key: RollupKey, inc: RollupIncrement): void {
    this.#addAt(
      `${key.keyId}\u0000${key.bucket}\u0000${key.model}\u0000${key.route}\u0000${key.groupId}\u0000${key.memberId}\u0000${key.upstream}`,
      key,
      inc,
    );
  }

  /** Adds every row of another batch into this one (its row keys are not computed again). */
  merge(other: RollupBatch): void {
    for (const [at, { key, inc }] of other.rows) this.#addAt(at, key, inc);
  }

  #addAt(at: string, key: RollupKey, inc: RollupIncrement): void {
    const row = this.rows.get(at);
    if (row) addInto(row.inc, inc);
    else this.rows.set(at, { key, inc: [...inc] });
  }

  /** The rows in primary-key order (the lock order on PostgreSQL). */
  sorted(): Array<{ key: RollupKey; inc: number[] }> {
    const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
    return [...this.rows.values()].sort((x, y) => {
      const a = x.key, b = y.key;
      return cmp(a.keyId, b.keyId) || cmp(a.bucket, b.bucket) || cmp(a.model, b.model) ||
        cmp(a.route, b.route) || cmp(a.groupId, b.groupId) || cmp(a.memberId, b.memberId) ||
        cmp(a.upstream, b.upstream);
    });
  }

  /** The same increments added up without the key (for the key-less rollup), in key order. */
  keyless(): Array<{ key: RollupKey; inc: number[] }> {
    const all = new Map<string, { key: RollupKey; inc: number[] }>();
    for (const { key, inc } of this.rows.values()) {
      const at = [key.bucket, key.model, key.route, key.upstream].join("\u0000");
      const row = all.get(at);
      if (row) addInto(row.inc, inc);
      else all.set(at, { key, inc: [...inc] });
    }
    const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
    return [...all.values()].sort((x, y) =>
      cmp(x.key.bucket, y.key.bucket) || cmp(x.key.model, y.key.model) ||
      cmp(x.key.route, y.key.route) || cmp(x.key.upstream, y.key.upstream)
    );
  }
}

/** The request log's status of a ledger row. */
export function requestStatusOf(state: string, outcome: unknown): RequestStatus {
  if (state === "pending") return "pending";
  if (state === "refused") return "refused";
  if (outcome === "ok") return "ok";
  if (outcome === "disconnected") return "disconnected";
  return "error";
}

/**
 * SQL conditions (on request_log) of each status filter; `charged` and `outcome` as stored.
 * Constant text, no values.
 */
export const STATUS_CONDITION: Record<RequestStatus, string> = {
  ok: "r.state = 'settled' AND r.outcome = 'ok'",
  refused: "r.state = 'refused'",
  error:
    "((r.state = 'settled' AND r.outcome IN ('client_error', 'upstream_error')) OR r.state = 'abandoned')",
  disconnected: "r.state = 'settled' AND r.outcome = 'disconnected'",
  pending: "r.state = 'pending'",
};

/** An instant exactly as `Date.prototype.toISOString` writes it. */
const CANONICAL_ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const numOrNull = (v: unknown) => v === null || v === undefined ? null : Number(v);

/**
 * A request_log row (joined with its key's name) as the request log shows it, from the array
 * of db/analytics_sql.ts requestLogSelect (arrays: no object per row read, for exports).
 */
export function toRequestRow(row: readonly unknown[]): RequestRow {
  const [
    id,
    startedAt,
    keyId,
    keyName,
    memberId,
    groupId,
    route,
    model,
    upstream,
    state,
    outcome,
    status,
    refusedBy,
    promptTokens,
    completionTokens,
    estimated,
    durationMs,
    ttfbMs,
  ] = row;
  return {
    id: Number(id),
    started_at: startedAt instanceof Date
      ? startedAt.toISOString()
      : typeof startedAt === "string" && CANONICAL_ISO.test(startedAt)
      ? startedAt // as SQLite stores it and PostgreSQL writes it: not parsed and written again
      : new Date(String(startedAt)).toISOString(),
    key_id: Number(keyId),
    key_name: String(keyName ?? ""),
    member_id: numOrNull(memberId),
    group_id: numOrNull(groupId),
    route: String(route),
    model: String(model),
    upstream: upstream === null || upstream === undefined ? null : String(upstream),
    status: requestStatusOf(String(state), outcome),
    http_status: numOrNull(status),
    refused_by: refusedBy === null || refusedBy === undefined ? null : String(refusedBy),
    prompt_tokens: Number(promptTokens ?? 0),
    completion_tokens: Number(completionTokens ?? 0),
    estimated: estimated === true || Number(estimated) === 1,
    duration_ms: numOrNull(durationMs),
    ttfb_ms: numOrNull(ttfbMs),
  };
}

/** Every counter column, for statement text. */
export { ROLLUP_COLUMNS };
