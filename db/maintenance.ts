/**
 * Analytics maintenance for both adapters: compaction of complete local days into the per-day
 * rollups, then retention of the request log and of the 15-minute rollups, in small batches.
 * Nothing here touches usage_counters: quotas never change, and a compacted day adds up to
 * exactly the buckets it replaces, so no chart total changes either.
 * @module
 */
import { localDayOf } from "../core/analytics/periods.ts";
import { BUCKET_MS } from "../core/analytics/rollup.ts";
import type { AnalyticsMaintenance, MaintenanceResult } from "../core/store.ts";
import {
  compactDayQueries,
  type Dialect,
  horizonQuery,
  HORIZONS_SQL,
  type Query,
} from "./analytics_sql.ts";

type Row = Record<string, unknown>;

/** How maintenance reads and writes. */
export interface MaintenanceSteps {
  read(q: Query): Promise<Row[]>;
  /** Runs statements in one write transaction; returns the rows they changed. */
  write(qs: Query[]): Promise<number>;
}

/** How a dialect runs maintenance statements. */
export interface MaintenanceIo {
  /**
   * Runs `fn` only if no other gateway of the cluster runs maintenance now (else null), with
   * the steps it is to run its statements through: on PostgreSQL the connection that holds the
   * lock, so maintenance needs no second connection (a pool of one would wait for itself).
   */
  exclusive<T>(fn: (io: MaintenanceSteps) => Promise<T>): Promise<T | null>;
}

const DAY_MS = 86_400_000;
/** Complete days this recent are compacted again each run: a late settlement may still land. */
export const RECOMPACT_MS = 3 * DAY_MS;
/** Rows deleted per batch unless asked otherwise. */
export const DEFAULT_BATCH_ROWS = 2000;
/** 15-minute buckets deleted per batch (4 h of buckets). */
const BUCKETS_PER_BATCH = 16;

const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Runs compaction and retention with a dialect's statements. */
export async function runMaintenance(
  dialect: Dialect,
  m: AnalyticsMaintenance,
  io: MaintenanceIo,
): Promise<MaintenanceResult> {
  const result = await io.exclusive(async (io): Promise<MaintenanceResult> => {
    const compactedDays = await compact(dialect, m, io);
    const deletedRequests = await pruneLog(dialect, m, io);
    const deletedBuckets = await pruneBuckets(dialect, m, io);
    return { ran: true, compactedDays, deletedRequests, deletedBuckets };
  });
  return result ?? { ran: false, compactedDays: 0, deletedRequests: 0, deletedBuckets: 0 };
}

async function horizons(io: MaintenanceSteps): Promise<Map<string, number>> {
  return new Map(
    (await io.read({ sql: HORIZONS_SQL, params: [] })).map((r) => [
      String(r.name),
      Number(r.from_ms),
    ]),
  );
}

/**
 * Compacts every complete local day (in APP_TZ) that still has all its 15-minute buckets and
 * is not compacted yet, or ended less than RECOMPACT_MS ago. Each day is one transaction.
 */
async function compact(dialect: Dialect, m: AnalyticsMaintenance, io: MaintenanceSteps) {
  const [first] = await io.read({ sql: "SELECT MIN(bucket) AS b FROM usage_15m_all", params: [] });
  if (first?.b === null || first?.b === undefined) return 0;
  const bucketsFrom = (await horizons(io)).get("usage_15m") ?? 0;
  const p = dialect === "sqlite" ? "?" : "$1";
  const done = new Set(
    (await io.read({
      sql: `SELECT day FROM usage_compacted WHERE tz = ${p}`,
      params: [m.timeZone],
    }))
      .map((r) => String(r.day)),
  );
  let n = 0;
  let day = localDayOf(Math.max(Number(first.b), bucketsFrom), m.timeZone);
  while (day.toMs <= m.nowMs) {
    const whole = day.fromMs >= bucketsFrom;
    const wanted = !done.has(day.day) || day.toMs > m.nowMs - RECOMPACT_MS;
    if (whole && wanted) {
      await io.write(compactDayQueries(dialect, {
        tz: m.timeZone,
        ...day,
        at: new Date(m.nowMs).toISOString(),
      }));
      n++;
      await turn();
    }
    day = localDayOf(day.toMs, m.timeZone);
  }
  return n;
}

/** Deletes request_log rows that started before the retention's first local day; never pending ones. */
async function pruneLog(dialect: Dialect, m: AnalyticsMaintenance, io: MaintenanceSteps) {
  const cutoff = localDayOf(m.nowMs - m.requestLogRetentionDays * DAY_MS, m.timeZone);
  const batch = m.batchRows ?? DEFAULT_BATCH_ROWS;
  const sql = dialect === "sqlite"
    ? `DELETE FROM request_log WHERE id IN (SELECT id FROM request_log
         WHERE started_at < ? AND state <> 'pending' ORDER BY started_at LIMIT ?)`
    : `DELETE FROM request_log WHERE id IN (SELECT id FROM request_log
         WHERE started_at < $1::timestamptz AND state <> 'pending' ORDER BY started_at LIMIT $2)`;
  let deleted = 0;
  for (;;) {
    const n = await io.write([{ sql, params: [new Date(cutoff.fromMs).toISOString(), batch] }]);
    deleted += n;
    if (n < batch) break;
    await turn();
  }
  await io.write([horizonQuery(dialect, "request_log", cutoff.fromMs, cutoff.day)]);
  return deleted;
}

/** Deletes 15-minute buckets before the first local day of their retention (compacted by now). */
async function pruneBuckets(dialect: Dialect, m: AnalyticsMaintenance, io: MaintenanceSteps) {
  const cutoff = localDayOf(m.nowMs - m.rollup15mRetentionDays * DAY_MS, m.timeZone);
  const [a, b] = dialect === "sqlite" ? ["?", "?"] : ["$1", "$2"];
  let deleted = 0;
  for (;;) {
    const [row] = await io.read({
      sql: `SELECT MIN(bucket) AS b FROM usage_15m_all WHERE bucket < ${a}`,
      params: [cutoff.fromMs],
    });
    const [keyed] = await io.read({
      sql: `SELECT MIN(bucket) AS b FROM usage_15m WHERE bucket < ${a}`,
      params: [cutoff.fromMs],
    });
    const starts = [row?.b, keyed?.b].filter((v) => v !== null && v !== undefined).map(Number);
    if (starts.length === 0) break;
    const from = Math.min(...starts);
    const to = Math.min(cutoff.fromMs, from + BUCKETS_PER_BATCH * BUCKET_MS);
    deleted += await io.write([
      { sql: `DELETE FROM usage_15m WHERE bucket >= ${a} AND bucket < ${b}`, params: [from, to] },
      {
        sql: `DELETE FROM usage_15m_all WHERE bucket >= ${a} AND bucket < ${b}`,
        params: [from, to],
      },
    ]);
    await turn();
  }
  await io.write([horizonQuery(dialect, "usage_15m", cutoff.fromMs, cutoff.day)]);
  return deleted;
}
