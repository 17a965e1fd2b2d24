/**
 * `Store.usage` for both adapters: core computes the local periods and splits them between
 * the rollups (core/analytics/periods.ts), SQL sums each part, core merges the parts.
 * @module
 */
import { localPeriods, timeUnitOf, usagePlan } from "../core/analytics/periods.ts";
import type { UsageQuery, UsageRow } from "../core/analytics/types.ts";
import { usageRows } from "../core/analytics/usage.ts";
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
  const parts = await Promise.all(usageQueries(dialect, q, plan).map(all));
  const sums = parts.flat().filter((row) => {
    if (row.day === undefined) return true;
    const period = dayPeriod.get(String(row.day));
    // The rows are this call's own: mapped in place.
    if (period !== undefined) row.period = period;
    return period !== undefined;
  });
  return usageRows(periods, q.groupBy, sums);
}
