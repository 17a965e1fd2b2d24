/**
 * `Store.usage` for both adapters: core computes the local periods and splits them between
 * the rollups (core/analytics/periods.ts), SQL sums each part, core merges the parts.
 * @module
 */
import { localPeriods, timeUnitOf, usagePlan } from "../core/analytics/periods.ts";
import type { UsageQuery, UsageRow } from "../core/analytics/types.ts";
import { MAX_USAGE_ROWS, usageRows, UsageTooLargeError } from "../core/analytics/usage.ts";
import { compactedDaysQuery, type Dialect, type Query, usageQueries } from "./analytics_sql.ts";

type Row = Record<string, unknown>;

/** Reads usage with a dialect's query runner. */
export async function readUsage(
  dialect: Dialect,
  q: UsageQuery,
  all: (query: Query) => Promise<Row[]>,
): Promise<UsageRow[]> {
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
  const parts = await Promise.all(
    usageQueries(dialect, q, plan).map((s) =>
      all({ ...s, sql: `${s.sql} LIMIT ${MAX_USAGE_ROWS + 1}` })
    ),
  );
  if (parts.some((rows) => rows.length > MAX_USAGE_ROWS)) throw new UsageTooLargeError();
  const sums = parts.flat().filter((row) => {
    if (row.day === undefined) return true;
    const period = dayPeriod.get(String(row.day));
    // The rows are this call's own: mapped in place.
    if (period !== undefined) row.period = period;
    return period !== undefined;
  });
  const rows = usageRows(periods, q.groupBy, sums);
  if (rows.length > MAX_USAGE_ROWS) throw new UsageTooLargeError();
  return rows;
}
