/**
 * Turning grouped rollup sums into usage rows: the adapters run the SQL of a usage plan
 * (core/analytics/periods.ts) and hand the rows here, which merges the two rollups' parts of
 * each group and orders the groups.
 * @module
 */
import { AnalyticsInputError } from "./range.ts";
import { HIST_BUCKETS, ROLLUP_COLUMNS, SCALAR_COLUMNS } from "./rollup.ts";
import type { Period } from "./periods.ts";
import type { UsageCounters, UsageDimension, UsageRow } from "./types.ts";

/** Most rows one usage answer may have: more is refused, never answered truncated. */
export const MAX_USAGE_ROWS = 20_000;

/** A usage question whose answer would exceed MAX_USAGE_ROWS (bad input: 400, exit 2). */
export class UsageTooLargeError extends AnalyticsInputError {
  constructor() {
    super("group_by", `more than ${MAX_USAGE_ROWS} rows: narrow the range or group_by`);
  }
}

/** Empty counters. */
export function zeroCounters(): UsageCounters {
  const c = Object.fromEntries(SCALAR_COLUMNS.map((k) => [k, 0])) as unknown as UsageCounters;
  c.errors = 0;
  c.duration_hist = new Array(HIST_BUCKETS).fill(0);
  c.ttfb_hist = new Array(HIST_BUCKETS).fill(0);
  return c;
}

/** Adds one row of rollup sums (columns named as ROLLUP_COLUMNS) into counters. */
export function addSums(c: UsageCounters, row: Record<string, unknown>): void {
  const counters = c as unknown as Record<string, number>;
  for (const col of SCALAR_COLUMNS) counters[col] += Number(row[col] ?? 0);
  for (let i = 0; i < HIST_BUCKETS; i++) {
    c.duration_hist[i] += Number(row[`dh${i}`] ?? 0);
    c.ttfb_hist[i] += Number(row[`th${i}`] ?? 0);
  }
  c.errors = c.client_errors + c.upstream_errors + c.abandoned;
}

/** The non-time dimensions a query groups by, as rollup columns. */
export function groupColumns(
  groupBy: readonly UsageDimension[],
): Array<"model" | "key_id" | "route"> {
  const out: Array<"model" | "key_id" | "route"> = [];
  for (const d of groupBy) {
    if (d === "model") out.push("model");
    else if (d === "key") out.push("key_id");
    else if (d === "route") out.push("route");
  }
  return out;
}

/**
 * Usage rows from grouped sums (each with `period`, the index into `periods`, and the grouped
 * columns): parts of one group (from the 15-minute and the per-day rollups) are added up,
 * groups ordered by the dimensions in the order asked (time ascending, the others by value).
 */
export function usageRows(
  periods: readonly Period[],
  groupBy: readonly UsageDimension[],
  sums: Array<Record<string, unknown>>,
): UsageRow[] {
  const columns = groupColumns(groupBy);
  const timed = periods.length > 0 && periods[0].label !== null;
  const groups = new Map<string, { row: UsageRow; period: number }>();
  for (const s of sums) {
    const period = timed ? Number(s.period) : 0;
    const key = [period, ...columns.map((c) => String(s[c]))].join("\u0000");
    let g = groups.get(key);
    if (!g) {
      const row: UsageRow = zeroCounters();
      if (timed) row.period = periods[period].label!;
      for (const c of columns) {
        if (c === "key_id") row.key_id = Number(s.key_id);
        else row[c] = String(s[c]);
      }
      groups.set(key, g = { row, period });
    }
    addSums(g.row, s);
  }
  const order = groupBy.map((d) => d === "key" ? "key_id" : d);
  return [...groups.values()].sort((a, b) => {
    for (const d of order) {
      let cmp = 0;
      if (d === "15m" || d === "hour" || d === "day" || d === "month") cmp = a.period - b.period;
      else if (d === "key_id") cmp = (a.row.key_id ?? 0) - (b.row.key_id ?? 0);
      else {
        const x = String(a.row[d as "model" | "route"]), y = String(b.row[d as "model" | "route"]);
        cmp = x < y ? -1 : x > y ? 1 : 0;
      }
      if (cmp !== 0) return cmp;
    }
    return 0;
  }).map((g) => g.row);
}

/** Every counter column (for adapters building SELECT lists). */
export { ROLLUP_COLUMNS };
