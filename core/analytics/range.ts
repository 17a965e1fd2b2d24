/**
 * Time ranges of analytics questions, as people write them: dates or date-times in APP_TZ
 * (or instants with an offset), turned into UTC 15-minute bounds. Shared by the admin API, the
 * Usage page and the CLI.
 * @module
 */
import { BUCKET_MS } from "./rollup.ts";

/** Bad analytics input, naming the parameter at fault. */
export class AnalyticsInputError extends Error {
  constructor(readonly param: string, message: string) {
    super(`${param}: ${message}`);
  }
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const LOCAL = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** The years a `from` or `to` may name (in APP_TZ): beyond them, dates are typos or probes. */
export const MIN_YEAR = 1970;
export const MAX_YEAR = 9998;

/** Whether a year is one a range bound may name. */
export function isAllowedYear(year: number): boolean {
  return year >= MIN_YEAR && year <= MAX_YEAR;
}

/** Days a range covers when `from` is not given. */
export const DEFAULT_RANGE_DAYS = 7;

/**
 * One bound: a date is the start of that local day (`to`: the start of the day after, so the
 * day is included); a date-time without offset is local; one with an offset is that instant.
 */
function parseBound(
  param: string,
  text: string,
  timeZone: string,
  end: boolean,
): number {
  const t = text.trim();
  let parsed: { year: number; ms: number } | null = null;
  try {
    if (DATE.test(t)) {
      const day = Temporal.PlainDate.from(t);
      const start = (end ? day.add({ days: 1 }) : day).toZonedDateTime(timeZone);
      parsed = { year: day.year, ms: start.epochMilliseconds };
    } else if (INSTANT.test(t)) {
      const instant = Temporal.Instant.from(t.replace(" ", "T"));
      parsed = { year: instant.toZonedDateTimeISO(timeZone).year, ms: instant.epochMilliseconds };
    } else if (LOCAL.test(t)) {
      const local = Temporal.PlainDateTime.from(t.replace(" ", "T"));
      parsed = { year: local.year, ms: local.toZonedDateTime(timeZone).epochMilliseconds };
    }
  } catch {
    // Well-formed but impossible (2026-02-30): the message below says what is expected.
  }
  // A five-digit year (99999-01-01) fits no pattern above, but is worth naming as the fault.
  if (/^\d{5,}-/.test(t)) parsed = { year: Number.MAX_SAFE_INTEGER, ms: NaN };
  if (parsed) {
    // The year as written (or, for an instant, in APP_TZ): 0001-01-01 is a typo, not a range.
    if (!isAllowedYear(parsed.year)) {
      throw new AnalyticsInputError(param, `the year must be from ${MIN_YEAR} to ${MAX_YEAR}`);
    }
    return parsed.ms;
  }
  throw new AnalyticsInputError(
    param,
    `expected a date (2026-03-29) or a date-time in ${timeZone} (2026-03-29T14:30, or with an offset)`,
  );
}

/**
 * The UTC bounds of a range: `from` rounded down and `to` rounded up to 15 minutes. Defaults:
 * up to the end of the current 15 minutes, from the start of the local day
 * DEFAULT_RANGE_DAYS - 1 days ago.
 */
export function parseRange(
  from: string | undefined,
  to: string | undefined,
  timeZone: string,
  now: Temporal.Instant,
): { fromMs: number; toMs: number } {
  // Without `to`: up to the end of the 15 minutes now falls in, so what just happened is in.
  const toRaw = to
    ? parseBound("to", to, timeZone, true)
    : Math.floor(now.epochMilliseconds / BUCKET_MS) * BUCKET_MS + BUCKET_MS;
  const fromRaw = from
    ? parseBound("from", from, timeZone, false)
    : now.toZonedDateTimeISO(timeZone).startOfDay().subtract({ days: DEFAULT_RANGE_DAYS - 1 })
      .epochMilliseconds;
  const fromMs = Math.floor(fromRaw / BUCKET_MS) * BUCKET_MS;
  const toMs = Math.ceil(toRaw / BUCKET_MS) * BUCKET_MS;
  if (toMs <= fromMs) throw new AnalyticsInputError("to", "must be after from");
  return { fromMs, toMs };
}

/** An instant as ISO text in a zone, with its offset (`2026-03-29T03:15:00+02:00`). */
export function localIso(epochMs: number, timeZone: string): string {
  return Temporal.Instant.fromEpochMilliseconds(epochMs).toZonedDateTimeISO(timeZone)
    .toString({ timeZoneName: "never", smallestUnit: "millisecond" });
}

/**
 * localIso for many instants (an export's rows): the zone's offset is looked up once per UTC
 * 15-minute bucket (offsets change only on such edges) instead of once per row through
 * Temporal, which would cost more than the rest of a row's formatting. Offsets are multiples
 * of 15 minutes, so a bucket is one local quarter hour: its local date, hour and first minute
 * are written once per bucket too, and a row adds only its minutes, seconds and milliseconds.
 */
export class LocalIso {
  #buckets = new Map<
    number,
    { head: string; minute: number; offsetMs: number; quarter: boolean; offset: string }
  >();
  constructor(readonly timeZone: string) {}

  /** The instant as localIso writes it. */
  format(epochMs: number): string {
    const bucket = Math.floor(epochMs / BUCKET_MS);
    let b = this.#buckets.get(bucket);
    if (b === undefined) {
      if (this.#buckets.size > 10_000) this.#buckets.clear();
      const start = bucket * BUCKET_MS;
      const offset = Temporal.Instant.fromEpochMilliseconds(start)
        .toZonedDateTimeISO(this.timeZone).offsetNanoseconds / 1e6;
      const abs = Math.abs(offset) / 60_000;
      const sign = offset < 0 ? "-" : "+";
      const hh = String(Math.floor(abs / 60)).padStart(2, "0");
      const mm = String(abs % 60).padStart(2, "0");
      // `YYYY-MM-DDTHH:` of the bucket's local start, and its minute (0, 15, 30 or 45).
      const local = new Date(start + offset).toISOString();
      b = {
        head: local.slice(0, 14),
        minute: Number(local.slice(14, 16)),
        offsetMs: offset,
        quarter: offset % BUCKET_MS === 0,
        offset: `${sign}${hh}:${mm}`,
      };
      this.#buckets.set(bucket, b);
    }
    if (!b.quarter) {
      // An offset off the quarter hours (local mean time, before 1900): the bucket is not one
      // local quarter hour, so the row's local time is written whole.
      return new Date(epochMs + b.offsetMs).toISOString().slice(0, 23) + b.offset;
    }
    const within = epochMs - bucket * BUCKET_MS;
    const minute = b.minute + Math.floor(within / 60_000);
    const second = Math.floor(within / 1000) % 60;
    const milli = within % 1000;
    return b.head + (minute < 10 ? "0" : "") + minute + (second < 10 ? ":0" : ":") + second +
      (milli < 10 ? ".00" : milli < 100 ? ".0" : ".") + milli + b.offset;
  }
}
