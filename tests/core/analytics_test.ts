/**
 * The pure parts of usage analytics: local periods across DST, the plan between rollups,
 * range parsing, the cursor codec, CSV escaping, and the bounds of analytics input (years,
 * control characters, range and unit limits, sliced usage exports).
 * @module
 */
import assert from "node:assert/strict";
import { localPeriods, usagePlan } from "../../core/analytics/periods.ts";
import { AnalyticsInputError, parseRange } from "../../core/analytics/range.ts";
import * as AnalyticsRange from "../../core/analytics/range.ts";
import { decodeCursor, encodeCursor } from "../../core/analytics/cursor.ts";
import {
  parseExportParams,
  parseRequestParams,
  parseUsageParams,
} from "../../core/analytics/params.ts";
import { recordedModel } from "../../core/analytics/recorded_model.ts";
import { OTHER_MODEL } from "../../core/analytics/refusal_cap.ts";
import {
  EXPORT_PAGE,
  primed,
  requestExportStream,
  SLICE_PERIODS,
  usageExportStream,
  usageSlices,
} from "../../core/analytics/export_stream.ts";
import { UsageTooLargeError, zeroCounters } from "../../core/analytics/usage.ts";
import type { RequestQuery, RequestRow, UsageQuery } from "../../core/analytics/types.ts";
import {
  csvCell,
  csvLine,
  formatRecord,
  REQUEST_COLUMNS,
  requestCsvLine,
  requestRecord,
  USAGE_COLUMNS,
} from "../../core/analytics/export_format.ts";
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

Deno.test("a cursor is opaque, carries its range, is bound to its filters, refuses tampering", () => {
  const filters = { fromMs: 0, toMs: 900_000, keyId: 3 };
  const cursor = encodeCursor(filters, { started_at: "2026-06-15T10:00:00.000Z", id: 42 });
  assert.match(cursor, /^[A-Za-z0-9_-]+$/);
  // The range is the cursor's own: the next page's filters need not resolve it again.
  assert.deepEqual(decodeCursor(cursor, { keyId: 3 }), {
    fromMs: 0,
    toMs: 900_000,
    before: { startedAt: "2026-06-15T10:00:00.000Z", id: 42 },
  });
  const param = (e: unknown) => e instanceof AnalyticsInputError && e.param === "cursor";
  assert.throws(() => decodeCursor(cursor, { ...filters, keyId: 4 }), param);
  assert.throws(() => decodeCursor(cursor, { keyId: 3, model: "m" }), param);
  assert.throws(() => decodeCursor("not a cursor", filters), param);
  assert.throws(() => decodeCursor(btoa('{"s":1,"i":"x"}'), filters), param);
  // Forged: a well-formed cursor with a range no parse gives (unaligned, reversed, year 99999).
  const forged = (a: unknown, b: unknown) => {
    const f = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
    return btoa(JSON.stringify({ ...f, a, b })).replaceAll("=", "");
  };
  assert.deepEqual(decodeCursor(forged(900_000, 1_800_000), { keyId: 3 }).fromMs, 900_000);
  for (
    const [a, b] of [[1, 900_000], [900_000, 0], [0, 8.64e15], ["0", 900_000], [-2 * 86_400_000, 0]]
  ) {
    assert.throws(() => decodeCursor(forged(a, b), { keyId: 3 }), param, `${a}..${b}`);
  }
});

Deno.test("ranges: only years 1970 to 9998, as dates, date-times and instants (in APP_TZ)", () => {
  const now = Temporal.Instant.from("2026-06-15T10:00:00Z");
  const tz = "Europe/Berlin";
  const yearFault = (param: string) => (e: unknown) =>
    e instanceof AnalyticsInputError && e.param === param && /year must be from 1970 to 9998/
      .test(e.message);
  for (const from of ["1969-12-31", "0000-01-01", "1969-12-31T23:00", "99999-01-01"]) {
    assert.throws(() => parseRange(from, undefined, tz, now), yearFault("from"), from);
  }
  // 1970-01-01T00:30+01:00 in Berlin, but 1969 as written in UTC: the year in APP_TZ counts.
  assert.equal(parseRange("1969-12-31T23:30Z", "1970-01-02", tz, now).fromMs, -30 * 60_000);
  assert.throws(() => parseRange("1970-01-01T00:30+02:00", undefined, tz, now), yearFault("from"));
  for (const to of ["9999-01-01", "9999-01-01T00:00", "9999-06-01T00:00Z", "275760-01-01"]) {
    assert.throws(() => parseRange("2026-01-01", to, tz, now), yearFault("to"), to);
  }
  assert.ok(parseRange("1970-01-01", "9998-12-31", tz, now).toMs > 0);
});

Deno.test("usage parameters: text filters without control characters, C1 included", () => {
  const now = Temporal.Instant.from("2026-06-15T10:00:00Z");
  for (const param of ["model", "route"]) {
    for (const bad of ["\u0000", "a\u001fb", "\u007f", "x\u0085", "\u009b31m"]) {
      for (const parse of [parseUsageParams, parseRequestParams]) {
        assert.throws(
          () => parse({ [param]: bad }, "Europe/Berlin", now),
          (e: unknown) =>
            e instanceof AnalyticsInputError && e.param === param && /control/.test(e.message),
          `${param}=${JSON.stringify(bad)}`,
        );
      }
    }
    assert.equal(
      parseUsageParams({ [param]: "llama3:8b-ü" }, "Europe/Berlin", now)[param as "model"],
      "llama3:8b-ü",
    );
  }
});

Deno.test("a model filter asks for the recorded spelling: canonical, (other) as it is", () => {
  const now = Temporal.Instant.from("2026-06-15T10:00:00Z");
  const cases: Array<[string, string]> = [
    ["llama3", "llama3:latest"],
    [" LLaMA3:Latest ", "llama3:latest"],
    ["registry.ollama.ai/library/llama3@sha256:abc", "llama3:latest"],
    ["qwen3:8b", "qwen3:8b"],
    [OTHER_MODEL, OTHER_MODEL],
  ];
  for (const [given, asked] of cases) {
    assert.equal(recordedModel(given), asked, given);
    assert.equal(parseUsageParams({ model: given }, "UTC", now).model, asked, given);
    assert.equal(parseRequestParams({ model: given }, "UTC", now).model, asked, given);
    const e = parseExportParams({ dataset: "requests", model: given }, "UTC", now);
    assert.equal(e.query.model, asked, given);
  }
  // A cursor belongs to the recorded filter: another spelling of the same model pages on.
  const first = parseRequestParams({ model: "llama3" }, "UTC", now);
  const cursor = encodeCursor(first, { started_at: "2026-06-15T09:00:00.000Z", id: 7 });
  assert.doesNotThrow(() => parseRequestParams({ model: "llama3:latest", cursor }, "UTC", now));
});

Deno.test("usage size limits: 400 days, 15m at most 7 days, hour at most 92 days", () => {
  const now = Temporal.Instant.from("2026-06-15T10:00:00Z");
  const tz = "Europe/Berlin";
  const fault = (param: string) => (e: unknown) =>
    e instanceof AnalyticsInputError && e.param === param;
  const ok = (raw: Record<string, string>) => parseUsageParams(raw, tz, now);
  // Across the fall-back night: 7 local days are 7 days and an hour.
  ok({ from: "2026-10-20", to: "2026-10-26", group_by: "15m" });
  assert.throws(
    () => ok({ from: "2026-10-20", to: "2026-10-27", group_by: "15m" }),
    fault("group_by"),
  );
  ok({ from: "2026-03-01", to: "2026-05-31", group_by: "hour,model" });
  assert.throws(
    () => ok({ from: "2026-03-01", to: "2026-06-01", group_by: "hour" }),
    fault("group_by"),
  );
  ok({ from: "2025-05-12", to: "2026-06-15", group_by: "day,key" });
  assert.throws(
    () => ok({ from: "2025-05-11", to: "2026-06-15", group_by: "month" }),
    fault("from"),
  );
  assert.throws(
    () => ok({ from: "1970-01-01", to: "9998-12-31", group_by: "model" }),
    fault("from"),
  );
  // The export parses its usage the same way.
  assert.throws(
    () => parseExportParams({ dataset: "usage", from: "2000-01-01" }, tz, now),
    fault("from"),
  );
});

Deno.test("a usage export reads runs of whole periods, in order; other orders in one read", async () => {
  const tz = "Europe/Berlin";
  const q: UsageQuery = {
    fromMs: ms("2025-12-31T23:00:00Z"),
    toMs: ms("2026-04-10T22:00:00Z"),
    timeZone: tz,
    groupBy: ["day", "model"],
  };
  const reads: UsageQuery[] = [];
  const read = (r: UsageQuery) => {
    reads.push(r);
    return Promise.resolve(
      localPeriods(r.fromMs, r.toMs, tz, "day").map((p) => ({
        ...zeroCounters(),
        period: p.label!,
      })),
    );
  };
  const text = await new Response(usageExportStream(q, "ndjson", read)).text();
  const periods = text.trim().split("\n").map((l) => JSON.parse(l).period_local);
  assert.deepEqual(periods, localPeriods(q.fromMs, q.toMs, tz, "day").map((p) => p.label));
  assert.equal(reads.length, Math.ceil(100 / SLICE_PERIODS.day), "100 days, 31 a read");
  assert.equal(reads[0].fromMs, q.fromMs);
  assert.equal(reads.at(-1)!.toMs, q.toMs);
  for (let i = 1; i < reads.length; i++) assert.equal(reads[i].fromMs, reads[i - 1].toMs);
  // A slice over the row cap after the first: the stream errors, it never ends as if complete.
  let n = 0;
  const failing = (r: UsageQuery) => n++ === 0 ? read(r) : Promise.reject(new UsageTooLargeError());
  await assert.rejects(
    () => new Response(usageExportStream(q, "csv", failing)).text(),
    UsageTooLargeError,
  );
  // Primed, the first slice's failure is the caller's to answer before anything is sent.
  n = 1;
  await assert.rejects(() => primed(usageExportStream(q, "csv", failing)), UsageTooLargeError);
  assert.equal(usageSlices({ ...q, groupBy: ["model", "day"] }).length, 1);
  assert.equal(usageSlices({ ...q, groupBy: ["model"] }).length, 1);
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

/** A request row of the log, its text fields with what a CSV has to escape or quote. */
function logRow(id: number, startedMs: number): RequestRow {
  return {
    id,
    started_at: new Date(startedMs).toISOString(),
    key_id: 1 + id % 7,
    key_name: ["=cmd|x", 'a "quoted", name', "plain", "@at"][id % 4],
    member_id: id % 3 === 0 ? null : id % 3,
    group_id: id % 5 === 0 ? 2 : null,
    route: "/api/chat",
    model: id % 2 ? "llama3" : "-neg,model",
    upstream: id % 2 ? null : "box-1",
    status: id % 6 === 0 ? "refused" : "ok",
    http_status: id % 6 === 0 ? 429 : 200,
    refused_by: id % 6 === 0 ? "daily_tokens" : null,
    prompt_tokens: id,
    completion_tokens: 2 * id,
    estimated: id % 4 === 0,
    duration_ms: id % 9 === 0 ? null : id * 3,
    ttfb_ms: id % 8 === 0 ? null : id,
  };
}

Deno.test("an export writes the cells of its records, every row once across pages", async () => {
  const { LocalIso } = AnalyticsRange;
  const local = new LocalIso("Europe/Berlin");
  // One row a minute, newest first; more than two pages.
  const n = 2 * EXPORT_PAGE + 123;
  const end = ms("2026-03-30T00:00:00Z");
  const rows = Array.from({ length: n }, (_, i) => logRow(n - i, end - i * 60_000));
  for (const row of rows.slice(0, 500)) {
    assert.equal(
      requestCsvLine(row, local),
      formatRecord("csv", REQUEST_COLUMNS, requestRecord(row, local)),
    );
  }
  const page = (q: RequestQuery) => {
    const from = q.before ? rows.findIndex((r) => r.id < q.before!.id) : 0;
    return Promise.resolve(from < 0 ? [] : rows.slice(from, from + q.limit));
  };
  const query = { fromMs: 0, toMs: end + 1, limit: 1000 };
  for (const format of ["csv", "ndjson"] as const) {
    const text = await new Response(
      requestExportStream(query, format, "Europe/Berlin", page),
    ).text();
    const lines = text.split(/\r?\n/).filter((l) => l !== "");
    assert.equal(lines.length, n + (format === "csv" ? 1 : 0), format);
    if (format === "ndjson") {
      assert.deepEqual(lines.map((l) => JSON.parse(l).id), rows.map((r) => r.id));
    } else {
      assert.equal(
        text,
        csvLine(REQUEST_COLUMNS) +
          rows.map((r) => formatRecord("csv", REQUEST_COLUMNS, requestRecord(r, local))).join(""),
      );
    }
  }
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
