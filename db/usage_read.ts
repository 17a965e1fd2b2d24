/**
 * `Store.usage` for both adapters: core computes the local periods and splits them between
 * the rollups (core/analytics/periods.ts), SQL sums each part, core merges the parts.
 * @module
 */
import { localPeriods, timeUnitOf, usagePlan } from "../core/analytics/periods.ts";
import type { UsageQuery, UsageRow } from "../core/analytics/types.ts";
import {
  counterColumns,
  MAX_USAGE_ROWS,
  usageRows,
  UsageTooLargeError,
} from "../core/analytics/usage.ts";
import { compactedDaysQuery, type Dialect, type Query, usageQueries } from "./analytics_sql.ts";

type Row = Record<string, unknown>;

/** Runs a statement: `all` gives rows as objects, `values` as arrays (in SELECT order). */
export interface UsageRunner {
  all: (query: Query) => Promise<Row[]>;
  values: (query: Query) => Promise<unknown[][]>;
}

/** Reads usage with a dialect's query runner. */
export async function readUsage(
  dialect: Dialect,
  q: UsageQuery,
  { all, values }: UsageRunner,
): Promise<UsageRow[]> {
  // Refuses an empty counter list before any query runs.
  const counters = counterColumns(q.counters);
  const unit = timeUnitOf(q.groupBy);
  const periods = localPeriods(q.fromMs, q.toMs, q.timeZone, unit);
  if (periods.length === 0) return [];
  const compacted = unit === "15m" || unit === "hour"
    ? []
    : (await all(compactedDaysQuery(dialect, q))).map((r) => ({
      day: String(r.day),
      fromMs: Number(r.from_ms),
      toMs: Number(r.to_ms),
    }));
  const plan = usagePlan(periods, unit, compacted);
  const dayPeriod = new Map(plan.days.map((d) => [d.day, d.period]));
  // A hard stop on rows read: a part has a group per period (or day) and dimensions, as fine
  // as the answer or finer, so one of more groups than an answer may have is refused too.
  const queries = usageQueries(dialect, q, plan, counters);
  const parts = await Promise.all(
    queries.map((s) => values({ ...s, sql: `${s.sql} LIMIT ${MAX_USAGE_ROWS + 1}` })),
  );
  if (parts.some((rows) => rows.length > MAX_USAGE_ROWS)) throw new UsageTooLargeError();
  // The per-day part (last when there is one) starts with the day: mapped to its period in
  // place (the rows are this call's own), days outside the plan dropped.
  const sums: unknown[][] = plan.buckets.length > 0 ? parts[0] : [];
  if (plan.days.length > 0) {
    for (const row of parts[parts.length - 1]) {
      const period = dayPeriod.get(String(row[0]));
      if (period === undefined) continue;
      row[0] = period;
      sums.push(row);
    }
  }
  const rows = usageRows(periods, q.groupBy, counters, sums);
  if (rows.length > MAX_USAGE_ROWS) throw new UsageTooLargeError();
  return rows;
}
