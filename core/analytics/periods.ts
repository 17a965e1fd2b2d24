/**
 * Local periods over UTC 15-minute buckets. Every IANA offset is a multiple of 15 minutes, so
 * every local 15 minutes, hour, day and month — across DST and after an APP_TZ change — is an
 * exact union of buckets. Period boundaries are computed here with Temporal; SQL only groups
 * buckets by the ranges it is given.
 * @module
 */
import { BUCKET_MS } from "./rollup.ts";
import type { UsageDimension } from "./types.ts";

/** A time unit of a usage query. */
export type TimeUnit = "15m" | "hour" | "day" | "month";

/** One local period of a query, clipped to its range. */
export interface Period {
  /** First bucket (UTC ms, inclusive) and end (exclusive) of the period within the range. */
  fromMs: number;
  toMs: number;
  /** The period's local start, ISO with offset (`2026-03-29T00:00:00+01:00`); null: no time unit. */
  label: string | null;
}

/** Most periods one query may have (90 days in 15 minutes is 8,640). */
export const MAX_PERIODS = 20_000;

/** The time unit among the dimensions, if any (at most one is allowed). */
export function timeUnitOf(groupBy: readonly UsageDimension[]): TimeUnit | null {
  const units = groupBy.filter((d): d is TimeUnit =>
    d === "15m" || d === "hour" || d === "day" || d === "month"
  );
  if (units.length > 1) throw new RangeError("group_by: at most one of 15m, hour, day, month");
  return units[0] ?? null;
}

/** ISO text of a zoned time with its offset, without fractions or the zone's name. */
export function isoWithOffset(z: Temporal.ZonedDateTime): string {
  return z.toString({ timeZoneName: "never", fractionalSecondDigits: 0 });
}

function startOf(z: Temporal.ZonedDateTime, unit: TimeUnit): Temporal.ZonedDateTime {
  switch (unit) {
    case "15m":
      return Temporal.Instant.fromEpochMilliseconds(
        Math.floor(z.epochMilliseconds / BUCKET_MS) * BUCKET_MS,
      ).toZonedDateTimeISO(z.timeZoneId);
    case "hour":
      return z.round({ smallestUnit: "hour", roundingMode: "floor" });
    case "day":
      return z.startOfDay();
    case "month":
      return z.with({ day: 1 }).startOfDay();
  }
}

function next(start: Temporal.ZonedDateTime, unit: TimeUnit): Temporal.ZonedDateTime {
  switch (unit) {
    case "15m":
      return start.add({ minutes: 15 });
    case "hour": {
      // An exact hour later, floored to the local hour: the repeated hour of a fall-back night
      // is a period of its own, the skipped one of a spring-forward night none.
      const later = start.add({ hours: 1 }).round({ smallestUnit: "hour", roundingMode: "floor" });
      return later.epochMilliseconds > start.epochMilliseconds ? later : start.add({ hours: 1 });
    }
    case "day":
      return start.add({ days: 1 }).startOfDay();
    case "month":
      return start.add({ months: 1 }).with({ day: 1 }).startOfDay();
  }
}

/**
 * The local periods of `unit` in `timeZone` that cover [fromMs, toMs), clipped to it; one
 * unlabelled period for the whole range when `unit` is null. Bounds are 15-minute aligned.
 */
export function localPeriods(
  fromMs: number,
  toMs: number,
  timeZone: string,
  unit: TimeUnit | null,
): Period[] {
  if (fromMs % BUCKET_MS !== 0 || toMs % BUCKET_MS !== 0) {
    throw new RangeError("a usage range must start and end on 15-minute boundaries");
  }
  if (toMs <= fromMs) return [];
  if (unit === null) return [{ fromMs, toMs, label: null }];
  const out: Period[] = [];
  let start = startOf(
    Temporal.Instant.fromEpochMilliseconds(fromMs).toZonedDateTimeISO(timeZone),
    unit,
  );
  while (start.epochMilliseconds < toMs) {
    const end = next(start, unit);
    out.push({
      fromMs: Math.max(fromMs, start.epochMilliseconds),
      toMs: Math.min(toMs, end.epochMilliseconds),
      label: isoWithOffset(start),
    });
    if (out.length > MAX_PERIODS) {
      throw new RangeError(`the range has more than ${MAX_PERIODS} periods of ${unit}`);
    }
    start = end;
  }
  return out;
}

/** The local day (`YYYY-MM-DD`) in `timeZone` of an instant, and that day's UTC span. */
export function localDayOf(
  epochMs: number,
  timeZone: string,
): { day: string; fromMs: number; toMs: number } {
  const start = Temporal.Instant.fromEpochMilliseconds(epochMs).toZonedDateTimeISO(timeZone)
    .startOfDay();
  return {
    day: start.toPlainDate().toString(),
    fromMs: start.epochMilliseconds,
    toMs: start.add({ days: 1 }).startOfDay().epochMilliseconds,
  };
}

/** A compacted local day: its name and UTC span. */
export interface CompactedDay {
  day: string;
  fromMs: number;
  toMs: number;
}

/** Where a usage query reads each part of its range from. */
export interface UsagePlan {
  periods: Period[];
  /** Ranges read from the 15-minute rollups, each with the index of its period. */
  buckets: Array<{ fromMs: number; toMs: number; period: number }>;
  /** Compacted days read from the per-day rollups, each with the index of its period. */
  days: Array<{ day: string; period: number }>;
}

/**
 * Splits a query's periods between the two rollups: a compacted local day (in the query's
 * zone) that lies wholly inside a period is read from the per-day rollup — one row per day
 * instead of 96 — unless the unit is finer than a day; the rest from the 15-minute rollup.
 */
export function usagePlan(
  periods: Period[],
  unit: TimeUnit | null,
  compacted: readonly CompactedDay[],
): UsagePlan {
  const plan: UsagePlan = { periods, buckets: [], days: [] };
  const days = unit === "15m" || unit === "hour"
    ? []
    : [...compacted].sort((a, b) => a.fromMs - b.fromMs);
  let d = 0;
  for (const [i, p] of periods.entries()) {
    let cursor = p.fromMs;
    while (d < days.length && days[d].toMs <= p.fromMs) d++;
    for (let j = d; j < days.length && days[j].fromMs < p.toMs; j++) {
      const day = days[j];
      if (day.fromMs < p.fromMs || day.toMs > p.toMs) continue;
      if (day.fromMs > cursor) plan.buckets.push({ fromMs: cursor, toMs: day.fromMs, period: i });
      plan.days.push({ day: day.day, period: i });
      cursor = day.toMs;
    }
    if (cursor < p.toMs) plan.buckets.push({ fromMs: cursor, toMs: p.toMs, period: i });
  }
  return plan;
}
