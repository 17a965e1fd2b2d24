/**
 * Turning grouped rollup sums into usage rows: the adapters run the SQL of a usage plan
 * (core/analytics/periods.ts) and hand the rows here, which merges the two rollups' parts of
 * each group and orders the groups.
 * @module
 */
import { AnalyticsInputError } from "./range.ts";
import { HIST_BUCKETS, ROLLUP_COLUMNS, SCALAR_COLUMNS } from "./rollup.ts";
import type { Period } from "./periods.ts";
import type { CounterName, UsageCounters, UsageDimension, UsageRow } from "./types.ts";

/** Every counter a usage row has, in SCALAR_COLUMNS order, then `errors` and the histograms. */
export const ALL_COUNTERS: readonly CounterName[] = [
  ...SCALAR_COLUMNS,
  "errors",
  "duration_hist",
  "ttfb_hist",
];

const HIST = (prefix: "dh" | "th") =>
  Array.from({ length: HIST_BUCKETS }, (_, i) => `${prefix}${i}`);
/** The rollup columns each counter is read from (derived from SCALAR_COLUMNS). */
const COLUMNS_OF: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ...SCALAR_COLUMNS.map((c): [string, readonly string[]] => [c, [c]]),
  ["errors", ["client_errors", "upstream_errors", "abandoned"]],
  ["duration_hist", HIST("dh")],
  ["ttfb_hist", HIST("th")],
]);

/**
 * The rollup columns to sum for the counters a query names (all of them when it names none),
 * in ROLLUP_COLUMNS order. Fewer columns is what makes a chart cheap: every summed column costs
 * per rollup row read. An empty list is refused: it would read nothing and look like zeros.
 */
export function counterColumns(counters: readonly CounterName[] | "all" | undefined): string[] {
  if (counters === undefined || counters === "all") counters = ALL_COUNTERS;
  if (counters.length === 0) {
    throw new AnalyticsInputError("counters", "must name at least one counter");
  }
  const wanted = new Set<string>();
  for (const name of counters) {
    const cols = COLUMNS_OF.get(name);
    if (!cols) throw new AnalyticsInputError("counters", `unknown counter ${name}`);
    for (const c of cols) wanted.add(c);
  }
  return ROLLUP_COLUMNS.filter((c) => wanted.has(c));
}

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

/**
 * Adds one row of rollup sums into counters: `row[first + i]` is the sum of `columns[i]`
 * (rollup column names, as counterColumns gives them). Rows are arrays, not objects: no
 * object of ~50 named properties per rollup row read; positions are resolved once per query.
 */
export function sumAdder(
  columns: readonly string[],
  first: number,
): (c: UsageCounters, row: readonly unknown[]) => void {
  const scalars: Array<[number, string]> = [];
  const dh: Array<[number, number]> = [];
  const th: Array<[number, number]> = [];
  columns.forEach((col, i) => {
    const at = first + i;
    if (/^dh\d+$/.test(col)) dh.push([at, Number(col.slice(2))]);
    else if (/^th\d+$/.test(col)) th.push([at, Number(col.slice(2))]);
    else if ((SCALAR_COLUMNS as readonly string[]).includes(col)) scalars.push([at, col]);
  });
  return (c, row) => {
    const counters = c as unknown as Record<string, number>;
    for (const [at, col] of scalars) counters[col] += Number(row[at] ?? 0);
    for (const [at, b] of dh) c.duration_hist[b] += Number(row[at] ?? 0);
    for (const [at, b] of th) c.ttfb_hist[b] += Number(row[at] ?? 0);
    c.errors = c.client_errors + c.upstream_errors + c.abandoned;
  };
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
 * Usage rows from grouped sums, each an array: the period index into `periods`, the grouped
 * columns (groupColumns order), then the sums of `counters` (rollup columns). Parts of one
 * group (from the 15-minute and the per-day rollups) are added up, groups ordered by the
 * dimensions in the order asked (time ascending, the others by value). Counters not read stay 0.
 */
export function usageRows(
  periods: readonly Period[],
  groupBy: readonly UsageDimension[],
  counters: readonly string[],
  sums: ReadonlyArray<readonly unknown[]>,
): UsageRow[] {
  const columns = groupColumns(groupBy);
  const add = sumAdder(counters, 1 + columns.length);
  const timed = periods.length > 0 && periods[0].label !== null;
  const groups = new Map<string, { row: UsageRow; period: number }>();
  for (const s of sums) {
    const period = timed ? Number(s[0]) : 0;
    let key = String(period);
    for (let i = 0; i < columns.length; i++) key += "\u0000" + String(s[1 + i]);
    let g = groups.get(key);
    if (!g) {
      const row: UsageRow = zeroCounters();
      if (timed) row.period = periods[period].label!;
      columns.forEach((c, i) => {
        if (c === "key_id") row.key_id = Number(s[1 + i]);
        else row[c] = String(s[1 + i]);
      });
      groups.set(key, g = { row, period });
    }
    add(g.row, s);
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
