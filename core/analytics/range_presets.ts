/**
 * The time ranges the Usage and Requests pages offer: presets (today, the last 24 hours, 7, 30
 * and 90 days) and from/to dates, all in the gateway's time zone, on the rollups' 15-minute
 * boundaries; and the chart resolution each range is drawn at.
 * @module
 */
import { localPeriods } from "./periods.ts";
import { isAllowedYear, MAX_YEAR, MIN_YEAR, parseRange } from "./range.ts";
import { ROLLUP_15M_RETENTION_DAYS } from "./retention.ts";

/** A preset range of the range picker. */
export type RangePreset = "today" | "24h" | "7d" | "30d" | "90d";

/** The presets in the order the picker shows them, with their labels. */
export const RANGE_PRESETS: ReadonlyArray<{ id: RangePreset; label: string }> = [
  { id: "today", label: "Today" },
  { id: "24h", label: "24 hours" },
  { id: "7d", label: "7 days" },
  { id: "30d", label: "30 days" },
  { id: "90d", label: "90 days" },
];

/** How finely a chart divides its range: 15 minutes, local hours or local days. */
export type Resolution = "15m" | "hour" | "day";

/** A range to read: UTC ms, from inclusive, to exclusive, on 15-minute boundaries. */
export interface TimeRange {
  fromMs: number;
  toMs: number;
  resolution: Resolution;
  /** The preset it came from; absent for dates entered. */
  preset?: RangePreset;
  /** The local dates it spans (yyyy-mm-dd, both inclusive), for the date inputs. */
  fromDate: string;
  toDate: string;
}

/** A date entered that names no range, with the field at fault. */
export interface RangeProblem {
  field: "from" | "to";
  message: string;
}

/** The longest range that may be entered, in days (the request log is kept 90 by default). */
export const MAX_RANGE_DAYS = 400;

const QUARTER_HOUR = 15 * 60_000;
const DAY = 24 * 60 * 60_000;

/** The next 15-minute boundary at or after `ms` (the end of the bucket `ms` is in). */
export function ceilQuarterHour(ms: number): number {
  return Math.floor(ms / QUARTER_HOUR) * QUARTER_HOUR + QUARTER_HOUR;
}

/**
 * 15 minutes up to 2 days, local hours up to 35 days, local days beyond; and local days for a
 * range that starts before `nowMs` less the 15-minute rollups' retention, since only the
 * per-day rollups reach back that far.
 */
export function resolutionFor(fromMs: number, toMs: number, nowMs = fromMs): Resolution {
  if (fromMs < nowMs - ROLLUP_15M_RETENTION_DAYS * DAY) return "day";
  const span = toMs - fromMs;
  if (span <= 2 * DAY) return "15m";
  return span <= 35 * DAY ? "hour" : "day";
}

function startOfDay(date: Temporal.PlainDate, timeZone: string): number {
  // toZonedDateTime on a plain date is the start of that day, even where midnight is skipped.
  return date.toZonedDateTime({ timeZone }).epochMilliseconds;
}

function localDate(ms: number, timeZone: string): Temporal.PlainDate {
  return Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(timeZone).toPlainDate();
}

function range(
  fromMs: number,
  toMs: number,
  now: Temporal.Instant,
  timeZone: string,
  preset?: RangePreset,
): TimeRange {
  return {
    fromMs,
    toMs,
    resolution: resolutionFor(fromMs, toMs, now.epochMilliseconds),
    preset,
    fromDate: localDate(fromMs, timeZone).toString(),
    // The last instant inside the range names its last day.
    toDate: localDate(toMs - 1, timeZone).toString(),
  };
}

/**
 * A preset ending now (at the end of the current 15-minute bucket): today from local midnight;
 * the last 24 hours; the last 7, 30 or 90 local days, today included.
 */
export function presetRange(preset: RangePreset, now: Temporal.Instant, timeZone: string) {
  const toMs = ceilQuarterHour(now.epochMilliseconds);
  const today = now.toZonedDateTimeISO(timeZone).toPlainDate();
  const days = { today: 1, "24h": 0, "7d": 7, "30d": 30, "90d": 90 }[preset];
  const fromMs = preset === "24h"
    ? toMs - DAY
    : startOfDay(today.subtract({ days: days - 1 }), timeZone);
  return range(fromMs, toMs, now, timeZone, preset);
}

function parseDate(text: string, field: "from" | "to"): Temporal.PlainDate | RangeProblem {
  const value = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    return { field, message: "Enter a date as YYYY-MM-DD, e.g. 2026-06-01" };
  }
  let date: Temporal.PlainDate;
  try {
    date = Temporal.PlainDate.from(value, { overflow: "reject" });
  } catch {
    return { field, message: `${value} is not a date of the calendar` };
  }
  // As the admin API (core/analytics/range.ts): a year outside these is a typo.
  if (!isAllowedYear(date.year)) {
    return { field, message: `Enter a year from ${MIN_YEAR} to ${MAX_YEAR}` };
  }
  return date;
}

/**
 * The local days `from` through `to` (yyyy-mm-dd, both inclusive; an empty `to` is today),
 * ending now at the latest; or what is wrong with them.
 */
export function dateRange(
  from: string,
  to: string,
  now: Temporal.Instant,
  timeZone: string,
): TimeRange | RangeProblem {
  const today = now.toZonedDateTimeISO(timeZone).toPlainDate();
  const first = parseDate(from, "from");
  if ("field" in first) return first;
  const last = to.trim() === "" ? today : parseDate(to, "to");
  if ("field" in last) return last;
  if (Temporal.PlainDate.compare(first, today) > 0) {
    return { field: "from", message: "The start date is in the future: nothing is counted yet" };
  }
  if (Temporal.PlainDate.compare(first, last) > 0) {
    return { field: "to", message: "The end date is before the start date" };
  }
  if (first.until(last).days + 1 > MAX_RANGE_DAYS) {
    return { field: "from", message: `Choose at most ${MAX_RANGE_DAYS} days` };
  }
  // Dates to instants as the admin API and the CLI read them: `to`'s day is included.
  const { fromMs, toMs } = parseRange(first.toString(), last.toString(), timeZone, now);
  return range(fromMs, Math.min(toMs, ceilQuarterHour(now.epochMilliseconds)), now, timeZone);
}

/**
 * The start (UTC ms) of every local period of a range at its resolution, oldest first: the
 * periods a chart has a place for, whether or not anything was counted in them. They are the
 * store's own periods (core/analytics/periods.ts), so every usage row lands in one; the first is
 * the local period that holds `fromMs`.
 */
export function periodStarts(r: TimeRange, timeZone: string): number[] {
  return localPeriods(r.fromMs, r.toMs, timeZone, r.resolution).map((p) => Date.parse(p.label!));
}
