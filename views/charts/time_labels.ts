/**
 * Names of chart periods in the gateway's time zone: for axis ticks, tooltips and tables.
 * @module
 */
import type { Resolution } from "../../core/analytics/range_presets.ts";

const formats = new Map<string, Intl.DateTimeFormat>();

function format(timeZone: string, kind: "time" | "day" | "weekday"): Intl.DateTimeFormat {
  const id = `${timeZone}|${kind}`;
  let f = formats.get(id);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      ...(kind === "time"
        ? { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }
        : kind === "day"
        ? { day: "numeric", month: "short" }
        : { weekday: "short", day: "numeric", month: "short", year: "numeric" }),
    });
    formats.set(id, f);
  }
  return f;
}

/** The local time of day of an instant, "14:15". */
export function timeOfDay(ms: number, timeZone: string): string {
  return format(timeZone, "time").format(ms);
}

/** The local day of an instant, "15 Jun". */
export function shortDay(ms: number, timeZone: string): string {
  return format(timeZone, "day").format(ms);
}

/** A period by its start and resolution: "Mon 15 Jun 2026, 14:15–14:30", "…, 14:00", "Mon 15 Jun 2026". */
export function periodName(
  startMs: number,
  endMs: number,
  resolution: Resolution,
  timeZone: string,
): string {
  const day = format(timeZone, "weekday").format(startMs);
  if (resolution === "day") return day;
  return `${day}, ${timeOfDay(startMs, timeZone)}–${timeOfDay(endMs, timeZone)}`;
}

/** Minutes since local midnight of an instant (0 at the start of a day). */
export function minuteOfDay(ms: number, timeZone: string): number {
  const t = Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(timeZone);
  return t.hour * 60 + t.minute;
}

/** Which periods get an axis label, at most about `most` of them, on round local times. */
export function tickIndexes(
  periods: readonly number[],
  resolution: Resolution,
  timeZone: string,
  most = 8,
): number[] {
  const n = periods.length;
  if (n === 0) return [];
  if (resolution === "day") {
    const step = [1, 2, 7, 14, 28, 56].find((s) => n / s <= most) ?? Math.ceil(n / most);
    return periods.map((_, i) => i).filter((i) => i % step === 0);
  }
  const minutes = resolution === "15m" ? 15 : 60;
  // Steps in minutes of local time; a step of whole days labels local midnights.
  const step = [15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160]
    .filter((s) => s >= minutes)
    .find((s) => (n * minutes) / s <= most) ?? 20160;
  const ticks: number[] = [];
  let days = 0;
  periods.forEach((ms, i) => {
    const m = minuteOfDay(ms, timeZone);
    if (step < 1440) {
      if (m % step === 0) ticks.push(i);
    } else if (m === 0 || (i === 0 && m < minutes)) {
      if (days % (step / 1440) === 0) ticks.push(i);
      days++;
    }
  });
  return ticks;
}

/** The text of an axis label: the day at local midnight (or for days), else the time. */
export function tickLabel(ms: number, resolution: Resolution, timeZone: string): string {
  if (resolution === "day" || minuteOfDay(ms, timeZone) === 0) return shortDay(ms, timeZone);
  return timeOfDay(ms, timeZone);
}
