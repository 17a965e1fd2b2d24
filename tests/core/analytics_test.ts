/**
 * The pure parts of usage analytics: local periods across DST, the plan between rollups,
 * range parsing, the cursor codec and CSV escaping.
 * @module
 */
import assert from "node:assert/strict";
import { localPeriods, usagePlan } from "../../core/analytics/periods.ts";
import { AnalyticsInputError, parseRange } from "../../core/analytics/range.ts";
import * as AnalyticsRange from "../../core/analytics/range.ts";
import { decodeCursor, encodeCursor } from "../../core/analytics/cursor.ts";
import { csvCell, csvLine, USAGE_COLUMNS } from "../../core/analytics/export_format.ts";
import { histogramBucket, refusalKind, SCALAR_COLUMNS } from "../../core/analytics/rollup.ts";
import { LATENCY_BUCKETS_MS } from "../../core/analytics/types.ts";

const ms = (iso: string) => Temporal.Instant.from(iso).epochMilliseconds;

Deno.test("local days and hours over both Berlin DST changes are unions of 15-minute buckets", () => {
  const spring = localPeriods(
    ms("2026-03-28T23:00:00Z"),
    ms("2026-03-29T22:00:00Z"),
    "Europe/Berlin",
    "hour",
  );
  assert.equal(spring.length, 23);
  const fall = localPeriods(
    ms("2026-10-24T22:00:00Z"),
    ms("2026-10-25T23:00:00Z"),
    "Europe/Berlin",
    "hour",
  );
  assert.equal(fall.length, 25);
  assert.deepEqual(fall.slice(2, 4).map((p) => p.label), [
    "2026-10-25T02:00:00+02:00",
    "2026-10-25T02:00:00+01:00",
  ]);
  for (const p of [...spring, ...fall]) assert.equal((p.toMs - p.fromMs) % (15 * 60_000), 0);
  const days = localPeriods(
    ms("2026-10-24T22:00:00Z"),
    ms("2026-10-26T23:00:00Z"),
    "Europe/Berlin",
    "day",
  );
  assert.deepEqual(days.map((d) => (d.toMs - d.fromMs) / 3_600_000), [25, 24]);
  // Zones with 45-minute offsets still fall on bucket edges.
  const kathmandu = localPeriods(
    ms("2026-06-14T18:15:00Z"),
    ms("2026-06-15T18:15:00Z"),
    "Asia/Kathmandu",
    "day",
  );
  assert.deepEqual(kathmandu.map((d) => d.label), ["2026-06-15T00:00:00+05:45"]);
});

Deno.test("a usage plan reads compacted days whole and the rest from buckets", () => {
  const periods = localPeriods(
    ms("2026-06-01T00:00:00+02:00"),
    ms("2026-06-04T12:00:00+02:00"),
    "Europe/Berlin",
    null,
  );
  const day = (d: string) => ({
    day: d,
    fromMs: ms(`${d}T00:00:00+02:00`),
    toMs: ms(`${d}T00:00:00+02:00`) + 86_400_000,
  });
  const plan = usagePlan(periods, null, [day("2026-06-02"), day("2026-06-03")]);
  assert.deepEqual(plan.days.map((d) => d.day), ["2026-06-02", "2026-06-03"]);
  assert.deepEqual(plan.buckets.map((b) => [b.fromMs, b.toMs]), [
    [ms("2026-06-01T00:00:00+02:00"), ms("2026-06-02T00:00:00+02:00")],
    [ms("2026-06-04T00:00:00+02:00"), ms("2026-06-04T12:00:00+02:00")],
  ]);
  // Hourly charts never read whole days.
  const hourly = usagePlan(
    localPeriods(periods[0].fromMs, periods[0].toMs, "Europe/Berlin", "hour"),
    "hour",
    [day("2026-06-02")],
  );
  assert.equal(hourly.days.length, 0);
});

Deno.test("ranges: dates are whole local days, date-times local unless they carry an offset", () => {
  const now = Temporal.Instant.from("2026-06-15T10:07:00Z");
  assert.deepEqual(parseRange("2026-06-01", "2026-06-02", "Europe/Berlin", now), {
    fromMs: ms("2026-06-01T00:00:00+02:00"),
    toMs: ms("2026-06-03T00:00:00+02:00"),
  });
  assert.deepEqual(parseRange("2026-06-01T10:20", "2026-06-01T10:31Z", "Europe/Berlin", now), {
    fromMs: ms("2026-06-01T10:15:00+02:00"),
    toMs: ms("2026-06-01T10:45:00Z"),
  });
  const open = parseRange(undefined, undefined, "Europe/Berlin", now);
  assert.equal(open.toMs, ms("2026-06-15T10:15:00Z"));
  assert.equal(open.fromMs, ms("2026-06-09T00:00:00+02:00"));
  for (
    const [from, to, param] of [["x", undefined, "from"], ["2026-02-30", undefined, "from"], [
      "2026-06-02",
      "2026-06-01",
      "to",
    ]] as const
  ) {
    assert.throws(
      () => parseRange(from, to, "Europe/Berlin", now),
      (e: unknown) => e instanceof AnalyticsInputError && e.param === param,
    );
  }
});

Deno.test("a cursor is opaque, bound to its filters, and refused when tampered with", () => {
  const filters = { fromMs: 0, toMs: 900_000, keyId: 3 };
  const cursor = encodeCursor(filters, { started_at: "2026-06-15T10:00:00.000Z", id: 42 });
  assert.match(cursor, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeCursor(cursor, filters), {
    startedAt: "2026-06-15T10:00:00.000Z",
    id: 42,
  });
  const param = (e: unknown) => e instanceof AnalyticsInputError && e.param === "cursor";
  assert.throws(() => decodeCursor(cursor, { ...filters, keyId: 4 }), param);
  assert.throws(() => decodeCursor("not a cursor", filters), param);
  assert.throws(() => decodeCursor(btoa('{"s":1,"i":"x"}'), filters), param);
});

Deno.test("CSV cells that a spreadsheet would run are escaped; others quoted only when needed", () => {
  for (const evil of ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]) {
    assert.ok(csvCell(evil).replace(/^"/, "").startsWith("'"), JSON.stringify(evil));
  }
  assert.equal(csvCell('=HYPERLINK("a")'), `"'=HYPERLINK(""a"")"`);
  assert.equal(csvCell("a,b"), '"a,b"');
  assert.equal(csvCell("llama3"), "llama3");
  assert.equal(csvCell(-5), "-5", "numbers are numbers");
  assert.equal(csvCell(null), "");
  assert.equal(csvCell([1, 2, 3]), "1;2;3");
  assert.equal(csvLine(["a", 1]), "a,1\r\n");
});

Deno.test("CSV formulas hidden behind whitespace, zero-width or full-width characters are escaped and quoted", () => {
  const hidden = [
    " =1+1",
    "\u00a0=1+1",
    "\u200b@SUM(A1)",
    "\u200c+1",
    "\u200d-1",
    "\u2060=1",
    "\ufeff=1",
    " \u00a0\u200b=1",
    "\uff1d1+1",
    "\uff0b1",
    "\uff0d1",
    "\uff20SUM(A1)",
    " \uff1d1",
  ];
  for (const evil of hidden) {
    assert.equal(csvCell(evil), `"'${evil}"`, JSON.stringify(evil));
  }
  assert.equal(csvCell("=1"), `"'=1"`, "a plain formula is quoted too");
  assert.equal(csvCell(" llama3"), " llama3", "leading space alone is harmless");
  assert.equal(csvCell("a=b"), "a=b", "only the first significant character counts");
});

Deno.test("the usage export has a column for every rollup scalar counter", () => {
  for (const col of SCALAR_COLUMNS) assert.ok(USAGE_COLUMNS.includes(col), col);
});

Deno.test("histogram buckets and refusal kinds", () => {
  assert.equal(histogramBucket(0), 0);
  assert.equal(histogramBucket(10), 0);
  assert.equal(histogramBucket(11), 1);
  assert.equal(histogramBucket(300_001), LATENCY_BUCKETS_MS.length);
  assert.equal(refusalKind("daily_tokens"), "tokens");
  assert.equal(refusalKind("group:requests_per_minute"), "requests");
  assert.equal(refusalKind("member:concurrent_requests"), "concurrent");
  assert.equal(refusalKind("model_not_allowed"), "model");
  assert.equal(refusalKind("group:model_not_allowed"), "model");
  assert.equal(refusalKind("member:model_not_allowed"), "model");
  assert.equal(refusalKind("blocked"), "other");
});

Deno.test("LocalIso writes what Temporal writes, across both DST changes", () => {
  const { LocalIso, localIso } = AnalyticsRange;
  for (const tz of ["Europe/Berlin", "America/New_York", "Asia/Kathmandu", "UTC"]) {
    const fast = new LocalIso(tz);
    for (
      let t = ms("2026-03-28T00:00:00Z");
      t < ms("2026-03-30T00:00:00Z");
      t += 7 * 60_000 + 123
    ) {
      assert.equal(fast.format(t), localIso(t, tz));
    }
    for (
      let t = ms("2026-10-24T00:00:00Z");
      t < ms("2026-10-26T00:00:00Z");
      t += 7 * 60_000 + 123
    ) {
      assert.equal(fast.format(t), localIso(t, tz));
    }
  }
});
