/**
 * Quota windows: the calendar day and month in the gateway's time zone.
 * @module
 */

/** The day and month that contain one instant, with the instants they end. */
export interface QuotaWindows {
  /** Local calendar day, `YYYY-MM-DD`: the key of the usage counters. */
  day: string;
  /** First day of the local month, `YYYY-MM-DD` (inclusive). */
  monthStart: string;
  /** First day of the next local month, `YYYY-MM-DD` (exclusive). */
  monthEnd: string;
  /** When the day window resets (next local midnight; a DST day has 23 or 25 hours). */
  dayResetAt: Temporal.Instant;
  /** When the month window resets. */
  monthResetAt: Temporal.Instant;
}

// The last answer per time zone, valid from its day's start until its dayResetAt: time-zone
// arithmetic runs once a day instead of on every request.
const lastWindows = new Map<string, { from: number; until: number; windows: QuotaWindows }>();

/** Computes the quota windows that contain `instant` in `timeZone`. */
export function windowsAt(instant: Temporal.Instant, timeZone: string): QuotaWindows {
  return dayOf(instant, timeZone).windows;
}

/** The day that contains `instant` in `timeZone`: its windows and where it starts and ends. */
function dayOf(instant: Temporal.Instant, timeZone: string) {
  const ms = instant.epochMilliseconds;
  const last = lastWindows.get(timeZone);
  if (last && ms >= last.from && ms < last.until) return last;
  const windows = computeWindows(instant, timeZone);
  const from = Temporal.PlainDate.from(windows.day).toZonedDateTime({ timeZone }).toInstant();
  const day = {
    from: from.epochMilliseconds,
    until: windows.dayResetAt.epochMilliseconds,
    windows: Object.freeze(windows),
  };
  lastWindows.set(timeZone, day);
  return day;
}

function computeWindows(instant: Temporal.Instant, timeZone: string): QuotaWindows {
  const date = instant.toZonedDateTimeISO(timeZone).toPlainDate();
  const monthStart = date.with({ day: 1 });
  const monthEnd = monthStart.add({ months: 1 });
  return {
    day: date.toString(),
    monthStart: monthStart.toString(),
    monthEnd: monthEnd.toString(),
    // toZonedDateTime on a plain date gives the start of that day, even where midnight is skipped.
    dayResetAt: date.add({ days: 1 }).toZonedDateTime({ timeZone }).toInstant(),
    monthResetAt: monthEnd.toZonedDateTime({ timeZone }).toInstant(),
  };
}

/** The windows one request is counted in: its UTC minute and its local day and month. */
export interface RequestWindows extends QuotaWindows {
  /** UTC minute, `YYYY-MM-DDTHH:MM` (every IANA offset is whole minutes). */
  minute: string;
  /** When the minute window resets. */
  minuteResetAt: Temporal.Instant;
}

// The last answer per time zone, valid while both its minute and its day hold: every request
// needs its windows, and all of one minute's requests have the same ones.
const lastRequestWindows = new Map<
  string,
  { from: number; until: number; windows: RequestWindows }
>();

/** The windows that contain `instant` in `timeZone`, the minute included. */
export function requestWindows(instant: Temporal.Instant, timeZone: string): RequestWindows {
  const ms = instant.epochMilliseconds;
  const last = lastRequestWindows.get(timeZone);
  if (last && ms >= last.from && ms < last.until) return last.windows;
  const minuteStart = ms - (((ms % 60_000) + 60_000) % 60_000);
  const day = dayOf(instant, timeZone);
  const windows: RequestWindows = Object.freeze({
    ...day.windows,
    minute: new Date(minuteStart).toISOString().slice(0, 16),
    minuteResetAt: Temporal.Instant.fromEpochMilliseconds(minuteStart + 60_000),
  });
  // The answer holds where its minute and its day overlap.
  lastRequestWindows.set(timeZone, {
    from: Math.max(minuteStart, day.from),
    until: Math.min(minuteStart + 60_000, day.until),
    windows,
  });
  return windows;
}

/** When a window that holds `windows` resets. */
export function resetAt(
  windows: RequestWindows,
  window: "minute" | "day" | "month",
): Temporal.Instant {
  return window === "minute"
    ? windows.minuteResetAt
    : window === "day"
    ? windows.dayResetAt
    : windows.monthResetAt;
}

/** Whole seconds from `now` until `later`, at least 1 (used for Retry-After). */
export function secondsUntil(now: Temporal.Instant, later: Temporal.Instant): number {
  // Plain arithmetic on epoch milliseconds: this runs on every request (rate-limit headers).
  return Math.max(1, Math.ceil((later.epochMilliseconds - now.epochMilliseconds) / 1000));
}
