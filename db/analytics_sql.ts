/**
 * Analytics SQL shared by the adapters: usage reads over the rollups, the request-log page,
 * compaction, retention and the rollup audit. Statement text is built from fixed fragments
 * only; every value is a bound parameter (`?` on SQLite, `$n` on PostgreSQL).
 * @module
 */
import type { RequestQuery, UsageQuery } from "../core/analytics/types.ts";
import type { UsagePlan } from "../core/analytics/periods.ts";
import { groupColumns } from "../core/analytics/usage.ts";
import { ROLLUP_COLUMNS } from "../core/analytics/rollup.ts";
import {
  COUNTER_LIST,
  LEDGER_DIMENSION_SELECT,
  LEDGER_DIMENSIONS,
  LEDGER_SUMS,
  ledgerRows,
  ROLLUP_SUMS,
} from "./rollup_sql.ts";
import { STATUS_CONDITION } from "./rollup_rows.ts";

/** The SQL dialect a statement is for. */
export type Dialect = "sqlite" | "postgres";

/** A statement and its parameters. */
export interface Query {
  sql: string;
  params: unknown[];
}

/** Collects parameters and hands out their placeholders. */
class Params {
  readonly values: unknown[] = [];
  constructor(readonly dialect: Dialect) {}
  /** The placeholder of a new parameter. */
  add(value: unknown, cast = ""): string {
    this.values.push(value);
    return this.dialect === "sqlite" ? "?" : `$${this.values.length}${cast}`;
  }
}

/** A JSON array parameter read as rows of named integer/text columns. */
function jsonRows(
  p: Params,
  rows: unknown[],
  columns: Array<[string, "bigint" | "text" | "int"]>,
): string {
  const json = JSON.stringify(rows);
  if (p.dialect === "postgres") {
    return `json_to_recordset(${p.add(json, "::text::json")}) AS j(${
      columns.map(([c, t]) => `${c} ${t}`).join(", ")
    })`;
  }
  return `(SELECT ${columns.map(([c]) => `value ->> '${c}' AS ${c}`).join(", ")} FROM json_each(${
    p.add(json)
  })) AS j`;
}

/** Whether a usage query needs the per-key rollups (else the key-less ones serve it). */
export function usesKeyedRollups(q: UsageQuery): boolean {
  return q.keyId !== undefined || q.groupBy.includes("key");
}

function filters(p: Params, q: UsageQuery, keyed: boolean): string {
  const out: string[] = [];
  if (keyed && q.keyId !== undefined) out.push(`u.key_id = ${p.add(q.keyId)}`);
  if (q.model !== undefined) out.push(`u.model = ${p.add(q.model)}`);
  if (q.route !== undefined) out.push(`u.route = ${p.add(q.route)}`);
  return out.map((c) => ` AND ${c}`).join("");
}

/**
 * The statements of a usage plan, each returning rows as arrays: the period index (15-minute
 * rollup, per range) or the `day` (per-day rollup, for the span of its days), the grouped
 * columns (groupColumns order), then the sums of `counters` (rollup columns, in that order).
 */
export function usageQueries(
  dialect: Dialect,
  q: UsageQuery,
  plan: UsagePlan,
  counters: readonly string[],
): Query[] {
  const keyed = usesKeyedRollups(q);
  const cols = groupColumns(q.groupBy).map((c) => `u.${c}`);
  const select = ["j.p AS period", ...cols].join(", ");
  const group = ["j.p", ...cols].join(", ");
  // PostgreSQL's SUM of BIGINT is NUMERIC (text to the client); cast back, read as numbers.
  const cast = dialect === "postgres" ? "::bigint" : "";
  const sums = counters.map((c) => `SUM(u.${c})${cast} AS ${c}`).join(", ");
  const out: Query[] = [];
  if (plan.buckets.length > 0) {
    const p = new Params(dialect);
    const rows = plan.buckets.map((b) => ({ f: b.fromMs, t: b.toMs, p: b.period }));
    const table = keyed ? "usage_15m" : "usage_15m_all";
    if (dialect === "sqlite") {
      // The ranges materialized first (json_each decoded once), then a range scan of the
      // rollup per range: CROSS JOIN keeps that order.
      const json = p.add(JSON.stringify(rows));
      const where = `u.bucket >= j.f AND u.bucket < j.t${filters(p, q, keyed)}`;
      out.push({
        sql: `WITH j(f, t, p) AS MATERIALIZED (
                SELECT value ->> 'f', value ->> 't', value ->> 'p' FROM json_each(${json}))
              SELECT ${select}, ${sums} FROM j CROSS JOIN ${table} u WHERE ${where}
               GROUP BY ${group}`,
        params: p.values,
      });
    } else {
      // PostgreSQL needs LATERAL with OFFSET 0 (which keeps the subquery from being pulled
      // up), else it scans the whole rollup once per range.
      const ranges = jsonRows(p, rows, [["f", "bigint"], ["t", "bigint"], ["p", "int"]]);
      const where = `u.bucket >= j.f AND u.bucket < j.t${filters(p, q, keyed)}`;
      out.push({
        sql: `SELECT ${select}, ${sums} FROM ${ranges}
               CROSS JOIN LATERAL (SELECT * FROM ${table} u WHERE ${where} OFFSET 0) u
              GROUP BY ${group}`,
        params: p.values,
      });
    }
  }
  if (plan.days.length > 0) {
    // Grouped by day (the index's order, so no sort), not by period: readUsage maps each day
    // to its period and drops days outside the plan.
    const p = new Params(dialect);
    const table = keyed ? "usage_day" : "usage_day_all";
    const keyFirst = keyed && q.keyId !== undefined ? `u.key_id = ${p.add(q.keyId)} AND ` : "";
    const tz = p.add(q.timeZone);
    const first = p.add(plan.days[0].day);
    const last = p.add(plan.days[plan.days.length - 1].day);
    const rest = filters(p, { ...q, keyId: undefined }, keyed);
    out.push({
      sql: `SELECT ${["u.day AS day", ...cols].join(", ")}, ${sums} FROM ${table} u
             WHERE ${keyFirst}u.tz = ${tz} AND u.day >= ${first} AND u.day <= ${last}${rest}
             GROUP BY ${["u.day", ...cols].join(", ")}`,
      params: p.values,
    });
  }
  return out;
}

/** Compacted days of a zone within a range. */
export function compactedDaysQuery(dialect: Dialect, q: UsageQuery): Query {
  const p = new Params(dialect);
  return {
    sql: `SELECT day, from_ms, to_ms FROM usage_compacted
           WHERE tz = ${p.add(q.timeZone)} AND from_ms >= ${p.add(q.fromMs)}
             AND to_ms <= ${p.add(q.toMs)}`,
    params: p.values,
  };
}

/**
 * The request-log page's columns, in the order toRequestRow reads its arrays. PostgreSQL
 * writes started_at as toISOString does (milliseconds, truncated as a Date truncates them):
 * parsing its own timestamp text into a Date was the most of an export row's client time.
 */
function requestLogSelect(dialect: Dialect): string {
  const startedAt = dialect === "sqlite"
    ? "r.started_at"
    : `to_char(r.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  return `r.id, ${startedAt}, r.key_id, k.name, r.member_id, r.group_id, r.route, r.model,
    r.upstream, r.state, r.outcome, r.status, r.refused_by, r.prompt_tokens,
    r.completion_tokens, r.estimated, r.duration_ms, r.ttfb_ms`;
}

/**
 * The request-log page of a query (started_at as each dialect stores it), read as arrays in
 * requestLogSelect order.
 */
export function requestLogQuery(dialect: Dialect, q: RequestQuery): Query {
  const p = new Params(dialect);
  const time = (ms: number) =>
    dialect === "sqlite"
      ? p.add(new Date(ms).toISOString())
      : p.add(new Date(ms).toISOString(), "::timestamptz");
  const where = [`r.started_at >= ${time(q.fromMs)}`, `r.started_at < ${time(q.toMs)}`];
  if (q.keyId !== undefined) where.push(`r.key_id = ${p.add(q.keyId)}`);
  if (q.model !== undefined) where.push(`r.model = ${p.add(q.model)}`);
  if (q.route !== undefined) where.push(`r.route = ${p.add(q.route)}`);
  if (q.status !== undefined) where.push(`(${STATUS_CONDITION[q.status]})`);
  if (q.before) {
    const at = dialect === "sqlite"
      ? p.add(new Date(q.before.startedAt).toISOString())
      : p.add(q.before.startedAt, "::timestamptz");
    where.push(`(r.started_at, r.id) < (${at}, ${p.add(q.before.id)})`);
  }
  return {
    sql: `SELECT ${requestLogSelect(dialect)}
            FROM request_log r JOIN api_keys k ON k.id = r.key_id
           WHERE ${where.join(" AND ")}
           ORDER BY r.started_at DESC, r.id DESC
           LIMIT ${p.add(q.limit)}`,
    params: p.values,
  };
}

/** The statements that compact one local day into the per-day rollups (run in one transaction). */
export function compactDayQueries(
  dialect: Dialect,
  d: { tz: string; day: string; fromMs: number; toMs: number; at: string },
): Query[] {
  const q = (build: (p: Params) => string): Query => {
    const p = new Params(dialect);
    const sql = build(p);
    return { sql, params: p.values };
  };
  // On PostgreSQL a settlement (or reaping) landing in a compacted day upserts its per-day rows
  // in primary-key order (db/postgres.ts); compaction locks and rewrites them in that order too,
  // usage_day before usage_day_all, so the two cannot deadlock.
  const pg = dialect === "postgres";
  const c = (col: string) => pg ? `${col} COLLATE "C"` : col;
  const dayOrder = `key_id, ${c("model")}, ${c("route")}, group_id, member_id, ${c("upstream")}`;
  const dayAllOrder = `${c("model")}, ${c("route")}, ${c("upstream")}`;
  const locks = pg
    ? [
      // The first compaction of a day finds no per-day rows to lock, so a settlement committing
      // during it would land neither in the day it read nor (not seeing usage_compacted yet) in
      // its day rows. This lock waits for running settlements and holds new ones until commit;
      // it conflicts with itself, so two gateways' compactions run one after the other.
      q(() => "LOCK TABLE usage_15m IN SHARE ROW EXCLUSIVE MODE"),
      q((p) =>
        `SELECT 1 FROM usage_day WHERE tz = ${p.add(d.tz)} AND day = ${p.add(d.day)}
          ORDER BY ${dayOrder} FOR UPDATE`
      ),
      q((p) =>
        `SELECT 1 FROM usage_day_all WHERE tz = ${p.add(d.tz)} AND day = ${p.add(d.day)}
          ORDER BY ${dayAllOrder} FOR UPDATE`
      ),
    ]
    : [];
  return [
    ...locks,
    q((p) => `DELETE FROM usage_day WHERE tz = ${p.add(d.tz)} AND day = ${p.add(d.day)}`),
    q((p) => `DELETE FROM usage_day_all WHERE tz = ${p.add(d.tz)} AND day = ${p.add(d.day)}`),
    q((p) =>
      `INSERT INTO usage_day (tz, day, key_id, model, route, group_id, member_id, upstream,
         ${COUNTER_LIST})
       SELECT ${p.add(d.tz)}, ${p.add(d.day)}, key_id, model, route, group_id, member_id,
              upstream, ${ROLLUP_SUMS}
         FROM usage_15m WHERE bucket >= ${p.add(d.fromMs)} AND bucket < ${p.add(d.toMs)}
        GROUP BY key_id, model, route, group_id, member_id, upstream
        ORDER BY ${dayOrder}`
    ),
    q((p) =>
      `INSERT INTO usage_day_all (tz, day, model, route, upstream, ${COUNTER_LIST})
       SELECT ${p.add(d.tz)}, ${p.add(d.day)}, model, route, upstream, ${ROLLUP_SUMS}
         FROM usage_15m_all WHERE bucket >= ${p.add(d.fromMs)} AND bucket < ${p.add(d.toMs)}
        GROUP BY model, route, upstream
        ORDER BY ${dayAllOrder}`
    ),
    q((p) =>
      `INSERT INTO usage_compacted (tz, day, from_ms, to_ms, compacted_at)
       VALUES (${p.add(d.tz)}, ${p.add(d.day)}, ${p.add(d.fromMs)}, ${p.add(d.toMs)},
               ${p.add(d.at)})
       ON CONFLICT (tz, day) DO UPDATE SET compacted_at = excluded.compacted_at`
    ),
  ];
}

/** Moves a retention horizon forward (never back). */
export function horizonQuery(
  dialect: Dialect,
  name: "request_log" | "usage_15m",
  fromMs: number,
  fromDay: string,
): Query {
  const p = new Params(dialect);
  return {
    sql: `INSERT INTO analytics_horizon (name, from_ms, from_day)
          VALUES (${p.add(name)}, ${p.add(fromMs)}, ${p.add(fromDay)})
          ON CONFLICT (name) DO UPDATE SET from_ms = excluded.from_ms, from_day = excluded.from_day
          WHERE analytics_horizon.from_ms < excluded.from_ms`,
    params: p.values,
  };
}

/** The ledger recomputed per keyed rollup row, from `fromMs` on (both sides still hold it). */
export function ledgerRollupQuery(dialect: Dialect, fromMs: number): Query {
  const p = new Params(dialect);
  return {
    sql: `SELECT ${LEDGER_DIMENSION_SELECT}, ${LEDGER_SUMS}
            FROM ${
      ledgerRows(`state IN ('settled', 'abandoned', 'refused') AND bucket >= ${p.add(fromMs)}`)
    }
           GROUP BY ${LEDGER_DIMENSIONS}`,
    params: p.values,
  };
}

/** Keyed 15-minute rollup rows from `fromMs` on. */
export function rollupRowsQuery(dialect: Dialect, fromMs: number): Query {
  const p = new Params(dialect);
  return {
    sql: `SELECT bucket, key_id, model, route, group_id, member_id, upstream, ${COUNTER_LIST}
            FROM usage_15m WHERE bucket >= ${p.add(fromMs)}`,
    params: p.values,
  };
}

/** The key-less rollup next to the keyed one summed without the key. */
export function keylessAuditQueries(): { keyless: string; summed: string } {
  return {
    keyless: `SELECT bucket, model, route, upstream, ${COUNTER_LIST} FROM usage_15m_all`,
    summed: `SELECT bucket, model, route, upstream, ${ROLLUP_SUMS} FROM usage_15m
              GROUP BY bucket, model, route, upstream`,
  };
}

/** Per-day rollups of days whose 15-minute buckets are all still held, next to those buckets. */
export function dayAuditQueries(dialect: Dialect, fromMs: number): { day: Query; summed: Query } {
  const a = new Params(dialect);
  const b = new Params(dialect);
  return {
    day: {
      sql: `SELECT u.tz, u.day, u.key_id, u.model, u.route, u.group_id, u.member_id, u.upstream,
                   ${ROLLUP_COLUMNS.map((c) => `u.${c}`).join(", ")}
              FROM usage_day u JOIN usage_compacted c ON c.tz = u.tz AND c.day = u.day
             WHERE c.from_ms >= ${a.add(fromMs)}`,
      params: a.values,
    },
    summed: {
      sql: `SELECT c.tz, c.day, u.key_id, u.model, u.route, u.group_id, u.member_id, u.upstream,
                   ${ROLLUP_COLUMNS.map((col) => `SUM(u.${col}) AS ${col}`).join(", ")}
              FROM usage_compacted c JOIN usage_15m u
                ON u.bucket >= c.from_ms AND u.bucket < c.to_ms
             WHERE c.from_ms >= ${b.add(fromMs)}
             GROUP BY c.tz, c.day, u.key_id, u.model, u.route, u.group_id, u.member_id,
                      u.upstream`,
      params: b.values,
    },
  };
}

/** The retention horizons. */
export const HORIZONS_SQL = "SELECT name, from_ms, from_day FROM analytics_horizon";
