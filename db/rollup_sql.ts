/**
 * The rollup rule of core/analytics/rollup.ts in SQL, for recomputing rollups from the ledger
 * (the audit, the migration's backfill) and for compaction. Both dialects accept every
 * expression here (`= TRUE` reads SQLite's 1 and PostgreSQL's boolean alike). The store
 * contract tests hold these expressions to `rollupOf`.
 * @module
 */
import { COLD_LOAD_MS, HIST_BUCKETS, ROLLUP_COLUMNS } from "../core/analytics/rollup.ts";
import { LATENCY_BUCKETS_MS } from "../core/analytics/types.ts";

/** Which refusal counter a refused_by adds to, as refusalKind says. */
const KIND = `CASE
  WHEN refused_by = 'concurrent_requests' OR refused_by LIKE '%:concurrent_requests'
    THEN 'concurrent'
  WHEN refused_by = 'model_not_allowed' OR refused_by LIKE '%:model_not_allowed' THEN 'model'
  WHEN refused_by LIKE '%tokens%' THEN 'tokens'
  WHEN refused_by LIKE '%requests%' THEN 'requests'
  ELSE 'other' END`;

const TIMED = "(load_ms IS NOT NULL OR prompt_eval_ms IS NOT NULL OR eval_ms IS NOT NULL)";

/**
 * Per rollup column, what one row adds to it: SQL over columns named as request_log's
 * (outcome, refused_by, charged, estimated, prompt_tokens, completion_tokens, duration_ms,
 * ttfb_ms, load_ms, prompt_eval_ms, eval_ms).
 */
export function perRow(column: string): string {
  const when = (cond: string) => `CASE WHEN ${cond} THEN 1 ELSE 0 END`;
  const m = /^(dh|th)(\d+)$/.exec(column);
  if (m) {
    // One range test per bucket (not a CASE chain per bucket): two comparisons a column. A
    // NULL fails every test, as histogramBucket is not asked for a missing value.
    const c = m[1] === "dh" ? "duration_ms" : "ttfb_ms";
    const i = Number(m[2]);
    const upper = LATENCY_BUCKETS_MS[i], lower = LATENCY_BUCKETS_MS[i - 1];
    if (i === 0) return when(`${c} <= ${upper}`);
    if (upper === undefined) return when(`${c} > ${lower}`);
    return when(`${c} > ${lower} AND ${c} <= ${upper}`);
  }
  switch (column) {
    case "requests":
      return "1";
    case "ok":
      return when("outcome = 'ok'");
    case "refused":
    case "refused_logged":
      // Every refused row of the ledger is a logged refusal.
      return when("outcome = 'refused'");
    case "refusals_unlogged":
      // A refusal past the logging cap has no ledger row: recomputed from the ledger, none.
      return "0";
    case "refused_requests":
    case "refused_tokens":
    case "refused_concurrent":
    case "refused_other":
    case "refused_model":
      return when(`outcome = 'refused' AND ${KIND} = '${column.slice("refused_".length)}'`);
    case "client_errors":
      return when("outcome = 'client_error'");
    case "upstream_errors":
      return when("outcome = 'upstream_error'");
    case "disconnected":
      return when("outcome = 'disconnected'");
    case "abandoned":
      return when("outcome = 'abandoned'");
    case "charged":
      return when("charged = TRUE");
    case "prompt_tokens":
      return "prompt_tokens";
    case "completion_tokens":
      return "completion_tokens";
    case "estimated":
      return when("estimated = TRUE");
    case "duration_ms":
      return "COALESCE(duration_ms, 0)";
    case "duration_count":
      return when("duration_ms IS NOT NULL");
    case "ttfb_ms":
      return "COALESCE(ttfb_ms, 0)";
    case "ttfb_count":
      return when("ttfb_ms IS NOT NULL");
    case "load_ms":
      return `CASE WHEN ${TIMED} THEN COALESCE(load_ms, 0) ELSE 0 END`;
    case "prompt_eval_ms":
      return `CASE WHEN ${TIMED} THEN COALESCE(prompt_eval_ms, 0) ELSE 0 END`;
    case "eval_ms":
      return `CASE WHEN ${TIMED} THEN COALESCE(eval_ms, 0) ELSE 0 END`;
    case "timing_count":
      return when(TIMED);
    case "cold_loads":
      return when(`${TIMED} AND COALESCE(load_ms, 0) > ${COLD_LOAD_MS}`);
  }
  throw new Error(`no SQL for rollup column ${column}`);
}

/** request_log rows matching `where`, still named request_log: what LEDGER_SUMS adds up. */
export function ledgerRows(where: string): string {
  return `(SELECT * FROM request_log WHERE ${where}) AS request_log`;
}

/** `SUM(<per row>) AS <column>` for every rollup column, over ledgerRows(). */
export const LEDGER_SUMS = ROLLUP_COLUMNS.map((c) => `SUM(${perRow(c)}) AS ${c}`).join(
  ",\n  ",
);

/** `SUM(<column>) AS <column>` for every rollup column, over rollup rows. */
export const ROLLUP_SUMS = ROLLUP_COLUMNS.map((c) => `SUM(${c}) AS ${c}`).join(", ");

/** The rollup columns, comma separated. */
export const COUNTER_LIST = ROLLUP_COLUMNS.join(", ");

/** `c = t.c + excluded.c` for every counter, for an upsert into table `t`. */
export function upsertSet(table: string): string {
  return ROLLUP_COLUMNS.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(", ");
}

/** Column definitions of the counters (SQL type given). */
export function counterColumns(type: string): string {
  return ROLLUP_COLUMNS.map((c) => `  ${c} ${type} NOT NULL DEFAULT 0`).join(",\n");
}

/** The ending of a settled row from a status column (core endingOf). */
export function endingOfStatus(status: string): string {
  return `CASE
  WHEN ${status} >= 200 AND ${status} < 300 THEN 'ok'
  WHEN ${status} = 499 THEN 'disconnected'
  WHEN ${status} >= 400 AND ${status} < 500 THEN 'client_error'
  ELSE 'upstream_error' END`;
}

/** The ending of a settled row from its status, for the backfill. */
export const ENDING_OF_STATUS = endingOfStatus("status");

/** The dimension columns of the keyed rollups, as request_log holds them. */
export const LEDGER_DIMENSIONS =
  "bucket, key_id, model, route, COALESCE(group_id, 0), COALESCE(member_id, 0), COALESCE(upstream, '')";

/** The same, named as the rollup columns, for a SELECT list. */
export const LEDGER_DIMENSION_SELECT =
  "bucket, key_id, model, route, COALESCE(group_id, 0) AS group_id, COALESCE(member_id, 0) AS member_id, COALESCE(upstream, '') AS upstream";

/** Number of histogram buckets (for readers). */
export { HIST_BUCKETS };
