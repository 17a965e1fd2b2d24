/**
 * What the Usage page shows, read from the usage rollups (never the request log) and the keys'
 * quota counters: a handful of grouped queries whatever the range.
 * @module
 */
import { listKeyViews } from "../core/api_keys.ts";
import { ceilQuarterHour, periodStarts, type TimeRange } from "../core/analytics/range_presets.ts";
import { addCounters, summarize } from "../core/analytics/summary.ts";
import type { CounterName, UsageQuery, UsageRow } from "../core/analytics/types.ts";
import { UsageTooLargeError } from "../core/analytics/usage.ts";
import { requestWindows } from "../core/windows.ts";
import type { Deps } from "../deps.ts";
import type { KeyOption } from "../views/analytics_filters.tsx";
import { rankGroups, stackSeries } from "../views/charts/series.ts";
import { type KeyRow, NO_LIVE_USAGE } from "../views/key_usage.tsx";
import type { UsageData } from "../views/usage_page.tsx";
import type { AnalyticsFilter } from "./analytics_query.ts";

/** What the charts over time and the top keys show: requests and tokens. */
const VOLUME_COUNTERS: readonly CounterName[] = ["requests", "prompt_tokens", "completion_tokens"];
/** What "who hit a limit today" shows: refusals by kind. */
const REFUSAL_COUNTERS: readonly CounterName[] = [
  "refused",
  "refused_requests",
  "refused_tokens",
  "refused_concurrent",
  "refused_other",
];

/** How many keys the top keys table lists. */
export const TOP_KEYS = 10;

// In callbacks: a store that throws at once (SQLite) rejects these promises instead.
const read = <T>(f: () => Promise<T>) => Promise.resolve().then(f);

/** The name a key is shown by; a deleted key by its number. */
export function keyLabel(names: ReadonlyMap<number, string>, id: number): string {
  return names.get(id) ?? `Key #${id} (deleted)`;
}

/** Every key for the filters' key choice, by name. */
export async function keyOptions(deps: Deps): Promise<KeyOption[]> {
  return (await deps.store.listKeys()).map((k) => ({ id: k.id, name: k.name }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
}

/**
 * The distinct values of one dimension in a range, most requests first (for a filter's list);
 * none when there are more than a usage answer may have.
 */
export async function valuesIn(
  deps: Deps,
  range: TimeRange,
  dimension: "model" | "route",
  keyId?: number,
): Promise<string[]> {
  let rows: UsageRow[];
  try {
    rows = await deps.store.usage({
      fromMs: range.fromMs,
      toMs: range.toMs,
      timeZone: deps.config.timeZone,
      groupBy: [dimension],
      keyId,
      counters: ["requests"],
    });
  } catch (err) {
    // More values than an answer may have (clients' model names): too many to offer as a list,
    // and the field still takes typed text, so the page is not refused for it.
    if (err instanceof UsageTooLargeError) return [];
    throw err;
  }
  return rows.sort((a, b) => b.requests - a.requests)
    .map((r) => (dimension === "model" ? r.model : r.route) ?? "")
    .filter((v) => v !== "");
}

/** Everything the Usage page shows for a valid range and filter. */
export async function loadUsage(
  deps: Deps,
  range: TimeRange,
  filter: AnalyticsFilter,
  by: "model" | "key",
  keys: readonly KeyOption[],
): Promise<UsageData> {
  const tz = deps.config.timeZone;
  const now = deps.clock.now();
  const base: Omit<UsageQuery, "groupBy"> = {
    fromMs: range.fromMs,
    toMs: range.toMs,
    timeZone: tz,
    keyId: filter.keyId,
    model: filter.model,
  };
  const todayStart = Temporal.PlainDate.from(requestWindows(now, tz).day)
    .toZonedDateTime({ timeZone: tz }).epochMilliseconds;
  // Each read names the counters it shows: every counter is summed over every rollup row read,
  // so the charts over time skip the 30 histogram columns only the per-model summary needs.
  const [overTime, byModel, byKey, today, views, live] = await Promise.all([
    read(() =>
      deps.store.usage({ ...base, groupBy: [range.resolution, by], counters: VOLUME_COUNTERS })
    ),
    read(() => deps.store.usage({ ...base, groupBy: ["model"] })),
    read(() => deps.store.usage({ ...base, groupBy: ["key"], counters: VOLUME_COUNTERS })),
    read(() =>
      deps.store.usage({
        ...base,
        fromMs: todayStart,
        toMs: ceilQuarterHour(now.epochMilliseconds),
        groupBy: ["key"],
        counters: REFUSAL_COUNTERS,
      })
    ),
    read(() => listKeyViews(deps.store, now, tz)),
    read(() => deps.store.liveUsageByKey(requestWindows(now, tz).minute)),
  ]);
  const names = new Map(keys.map((k) => [k.id, k.name]));
  const periods = periodStarts(range, tz);
  const order = rankGroups(overTime, by);
  const stackBy = {
    dimension: by,
    label: (id: string) => by === "model" ? id : keyLabel(names, Number(id)),
  };
  const tokens = (r: UsageRow) => r.prompt_tokens + r.completion_tokens;
  const rows = new Map<number, KeyRow>(
    views.map((v) => [v.id, { ...v, live: live.get(v.id) ?? NO_LIVE_USAGE }]),
  );
  return {
    range,
    periods,
    by,
    requests: stackSeries(overTime, periods, order, stackBy, (r) => r.requests),
    tokens: stackSeries(overTime, periods, order, stackBy, tokens),
    summary: summarize(addCounters(byModel)),
    models: byModel.filter((r) => r.requests > 0)
      .sort((a, b) => b.requests - a.requests || (a.model ?? "").localeCompare(b.model ?? ""))
      .map((r) => ({ model: r.model ?? "", summary: summarize(r) })),
    topKeys: byKey.filter((r) => r.requests > 0)
      .sort((a, b) => b.requests - a.requests || tokens(b) - tokens(a))
      .slice(0, TOP_KEYS)
      .map((r) => ({
        id: r.key_id!,
        name: keyLabel(names, r.key_id!),
        requests: r.requests,
        tokens: tokens(r),
        key: rows.get(r.key_id!) ?? null,
      })),
    limitHits: today.filter((r) => r.refused > 0)
      .sort((a, b) => b.refused - a.refused)
      .map((r) => ({ id: r.key_id!, name: keyLabel(names, r.key_id!), counters: r })),
  };
}
