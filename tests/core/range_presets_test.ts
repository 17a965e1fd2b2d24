import assert from "node:assert/strict";
import {
  dateRange,
  MAX_RANGE_DAYS,
  periodStarts,
  presetRange,
  resolutionFor,
  type TimeRange,
} from "../../core/analytics/range_presets.ts";

const BERLIN = "Europe/Berlin";
const at = (iso: string) => Temporal.Instant.from(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

Deno.test("presets end at the end of the current 15 minutes and start on local days", () => {
  const now = at("2026-06-15T10:07:00Z"); // 12:07 in Berlin (CEST)
  const today = presetRange("today", now, BERLIN);
  assert.equal(iso(today.fromMs), "2026-06-14T22:00:00.000Z", "local midnight");
  assert.equal(iso(today.toMs), "2026-06-15T10:15:00.000Z");
  assert.equal(today.resolution, "15m");
  assert.deepEqual([today.fromDate, today.toDate], ["2026-06-15", "2026-06-15"]);
  const day = presetRange("24h", now, BERLIN);
  assert.equal(day.toMs - day.fromMs, DAY);
  const week = presetRange("7d", now, BERLIN);
  assert.equal(iso(week.fromMs), "2026-06-08T22:00:00.000Z", "today and the 6 days before");
  assert.equal(week.resolution, "hour");
  assert.equal(presetRange("30d", now, BERLIN).resolution, "hour");
  assert.equal(presetRange("90d", now, BERLIN).resolution, "day");
});

Deno.test("resolution: 15 minutes up to 2 days, hours up to 35 days, days beyond", () => {
  assert.equal(resolutionFor(0, 2 * DAY), "15m");
  assert.equal(resolutionFor(0, 2 * DAY + 900_000), "hour");
  assert.equal(resolutionFor(0, 35 * DAY), "hour");
  assert.equal(resolutionFor(0, 35 * DAY + 900_000), "day");
  // Only the per-day rollups reach back more than 35 days: such a range is drawn in days.
  assert.equal(resolutionFor(0, DAY, 35 * DAY), "15m");
  assert.equal(resolutionFor(0, DAY, 35 * DAY + 900_000), "day");
  const now = at("2026-06-15T10:07:00Z");
  assert.equal((dateRange("2026-05-01", "2026-05-02", now, BERLIN) as TimeRange).resolution, "day");
  assert.equal((dateRange("2026-06-01", "2026-06-02", now, BERLIN) as TimeRange).resolution, "15m");
});

Deno.test("dates entered are whole local days, ending now at the latest", () => {
  const now = at("2026-06-15T10:07:00Z");
  const r = dateRange("2026-06-01", "2026-06-10", now, BERLIN) as TimeRange;
  assert.equal(iso(r.fromMs), "2026-05-31T22:00:00.000Z");
  assert.equal(iso(r.toMs), "2026-06-10T22:00:00.000Z", "the day after the last, exclusive");
  assert.equal(r.preset, undefined);
  const toNow = dateRange("2026-06-14", "", now, BERLIN) as TimeRange;
  assert.equal(iso(toNow.toMs), "2026-06-15T10:15:00.000Z", "empty To: through today, so far");
  assert.equal(toNow.toDate, "2026-06-15");
});

Deno.test("wrong dates name the field at fault", () => {
  const now = at("2026-06-15T10:07:00Z");
  const problem = (from: string, to: string) => dateRange(from, to, now, BERLIN);
  assert.deepEqual(Object.keys(problem("01.06.2026", "")), ["field", "message"]);
  assert.equal((problem("01.06.2026", "") as { field: string }).field, "from");
  assert.match((problem("2026-02-30", "") as { message: string }).message, /not a date/);
  assert.equal((problem("2026-06-01", "x") as { field: string }).field, "to");
  assert.match((problem("2026-06-10", "2026-06-01") as { message: string }).message, /before/);
  assert.match((problem("2026-07-01", "") as { message: string }).message, /future/);
  assert.match(
    (problem("2024-01-01", "2026-06-01") as { message: string }).message,
    new RegExp(`at most ${MAX_RANGE_DAYS} days`),
  );
  // Years the admin API refuses too, each a message on its field rather than a thrown error.
  assert.deepEqual(problem("1969-12-31", ""), {
    field: "from",
    message: "Enter a year from 1970 to 9998",
  });
  assert.deepEqual(problem("0000-01-01", "0000-01-02"), {
    field: "from",
    message: "Enter a year from 1970 to 9998",
  });
  assert.deepEqual(problem("2026-06-01", "9999-01-01"), {
    field: "to",
    message: "Enter a year from 1970 to 9998",
  });
});

Deno.test("periods are local hours and days across both DST changes", () => {
  const spring = dateRange("2026-03-29", "2026-03-29", at("2026-04-02T00:00:00Z"), BERLIN);
  const springHours = periodStarts(spring as TimeRange, BERLIN);
  assert.equal((spring as TimeRange).resolution, "15m");
  assert.equal(springHours.length, 23 * 4, "a 23-hour day");
  const autumn = dateRange("2026-10-24", "2026-10-26", at("2026-11-02T00:00:00Z"), BERLIN);
  const hours = periodStarts(autumn as TimeRange, BERLIN);
  assert.equal((autumn as TimeRange).resolution, "hour");
  assert.equal(hours.length, 24 + 25 + 24, "the repeated hour is a period of its own");
  const days = dateRange("2026-01-01", "2026-03-31", at("2026-04-02T00:00:00Z"), BERLIN);
  const starts = periodStarts(days as TimeRange, BERLIN);
  assert.equal(starts.length, 90);
  assert.equal(iso(starts.at(-1)!), "2026-03-30T22:00:00.000Z", "local midnight after DST");
});

Deno.test("local hours of a zone 45 minutes off the hour start at :15 UTC", () => {
  const r = dateRange("2026-06-10", "2026-06-11", at("2026-06-15T00:00:00Z"), "Asia/Kathmandu");
  const starts = periodStarts({ ...(r as TimeRange), resolution: "hour" }, "Asia/Kathmandu");
  assert.equal(iso(starts[0]), "2026-06-09T18:15:00.000Z");
  assert.equal(iso(starts[1]), "2026-06-09T19:15:00.000Z");
});
