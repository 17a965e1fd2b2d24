/**
 * Turning usage rows into what a stacked chart draws: one series per model or key (the top
 * ones, the rest as "Other"), one value per period, periods without rows at zero.
 * @module
 */
import type { UsageRow } from "../../core/analytics/types.ts";

/** One layer of a stacked chart. */
export interface ChartSeries {
  /** What the legend and the table call it. */
  name: string;
  /** One value per period of the chart, in order. */
  values: number[];
  /** The layer that sums everything outside the top ones. */
  other?: boolean;
}

/** What a chart stacks by, and the name of each group. */
export interface StackBy {
  /** Which field of a row names its group. */
  dimension: "model" | "key";
  /** The shown name of a group's id (a key's name; a model's own name). */
  label: (id: string) => string;
}

/** How many groups a chart names; the rest are summed as "Other". */
export const TOP_SERIES = 6;

/** The id of a row's group. */
export function groupOf(row: UsageRow, by: StackBy["dimension"]): string {
  return by === "model" ? row.model ?? "" : String(row.key_id ?? "");
}

/**
 * The groups in the order a chart stacks them: most requests first (then most tokens, then by
 * name), so two charts of the same rows give each group the same place and colour.
 */
export function rankGroups(rows: readonly UsageRow[], by: StackBy["dimension"]): string[] {
  const totals = new Map<string, { requests: number; tokens: number }>();
  for (const row of rows) {
    const id = groupOf(row, by);
    const t = totals.get(id) ?? { requests: 0, tokens: 0 };
    t.requests += row.requests;
    t.tokens += row.prompt_tokens + row.completion_tokens;
    totals.set(id, t);
  }
  return [...totals.entries()]
    .sort(([a, x], [b, y]) => y.requests - x.requests || y.tokens - x.tokens || a.localeCompare(b))
    .map(([id]) => id);
}

/**
 * The series of one measure (`value` of a row) over `periods` (UTC ms of each period's start):
 * the first `top` groups of `order` by name, then one "Other" series when there are more.
 */
export function stackSeries(
  rows: readonly UsageRow[],
  periods: readonly number[],
  order: readonly string[],
  by: StackBy,
  value: (row: UsageRow) => number,
  top = TOP_SERIES,
): ChartSeries[] {
  // With one group too many, naming it beats an "Other" of one.
  const named = order.length <= top + 1 ? order : order.slice(0, top);
  const index = new Map(periods.map((ms, i) => [ms, i]));
  const slot = new Map(named.map((id, i) => [id, i]));
  const series: ChartSeries[] = named.map((id) => ({
    name: by.label(id),
    values: periods.map(() => 0),
  }));
  const other: ChartSeries = { name: "Other", values: periods.map(() => 0), other: true };
  for (const row of rows) {
    const at = row.period === undefined ? undefined : index.get(Date.parse(row.period));
    // A row outside the chart's periods cannot be drawn; the periods come from the same range.
    if (at === undefined) continue;
    const s = slot.get(groupOf(row, by.dimension));
    (s === undefined ? other : series[s]).values[at] += value(row);
  }
  return order.length > named.length ? [...series, other] : series;
}
