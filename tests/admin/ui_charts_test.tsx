import assert from "node:assert/strict";
import { periodStarts, presetRange } from "../../core/analytics/range_presets.ts";
import { rankGroups, stackSeries, TOP_SERIES } from "../../views/charts/series.ts";
import { BARS_UP_TO, niceScale, StackedChart } from "../../views/charts/stacked_chart.tsx";
import { type FakeRequest, usageRowsOf } from "../support/usage_rows.ts";

const TZ = "Europe/Berlin";
const NOW = Temporal.Instant.from("2026-06-15T10:07:00Z");

/** A chart of `requests` over a preset, stacked by model, as HTML. */
function chartOf(requests: FakeRequest[], preset: "today" | "7d" = "today"): string {
  const range = presetRange(preset, NOW, TZ);
  const rows = usageRowsOf(requests, [range.resolution, "model"], TZ);
  const periods = periodStarts(range, TZ);
  const series = stackSeries(rows, periods, rankGroups(rows, "model"), {
    dimension: "model",
    label: (id) => id,
  }, (r) => r.requests);
  return String(
    <StackedChart
      id="c"
      title="Requests"
      unit="request"
      periods={periods}
      endMs={range.toMs}
      resolution={range.resolution}
      timeZone={TZ}
      series={series}
      stackedBy="model"
    />,
  );
}

const ms = (iso: string) => Date.parse(iso);

Deno.test("series: the top models by name, the rest as Other, every request in one place", () => {
  const models = ["a", "b", "c", "d", "e", "f", "g", "h"];
  const requests: FakeRequest[] = models.flatMap((model, i) =>
    Array.from({ length: 10 - i }, () => ({ atMs: ms("2026-06-15T08:00:00Z"), keyId: 1, model }))
  );
  const range = presetRange("today", NOW, TZ);
  const rows = usageRowsOf(requests, ["15m", "model"], TZ);
  const periods = periodStarts(range, TZ);
  const order = rankGroups(rows, "model");
  assert.deepEqual(order, models, "most requests first");
  const series = stackSeries(
    rows,
    periods,
    order,
    { dimension: "model", label: (id) => id },
    (r) => r.requests,
  );
  assert.equal(series.length, TOP_SERIES + 1);
  assert.deepEqual(series.map((s) => s.name), [...models.slice(0, TOP_SERIES), "Other"]);
  assert.equal(series.at(-1)!.other, true);
  const total = series.flatMap((s) => s.values).reduce((a, b) => a + b, 0);
  assert.equal(total, requests.length);
  const at = periods.indexOf(ms("2026-06-15T08:00:00Z"));
  assert.equal(series[0].values[at], 10);
  assert.equal(series.at(-1)!.values[at], 4 + 3, "g and h");
  // One group too many is named rather than called Other.
  const seven = stackSeries(rows, periods, order.slice(0, 7), {
    dimension: "model",
    label: (id) => id,
  }, (r) => r.requests);
  assert.ok(!seven.some((s) => s.other));
});

Deno.test("a chart is SVG with a title, a description, a legend and the same numbers as a table", () => {
  const html = chartOf([
    { atMs: ms("2026-06-15T07:05:00Z"), keyId: 1, model: "llama3" },
    { atMs: ms("2026-06-15T07:10:00Z"), keyId: 1, model: "llama3" },
    { atMs: ms("2026-06-15T09:50:00Z"), keyId: 1, model: "qwen3" },
  ]);
  assert.match(html, /<svg class="plot"[^>]*role="img" aria-labelledby="c-title c-desc"/);
  assert.match(html, /<title id="c-title">Requests<\/title>/);
  // 07:05 UTC is 09:05 in Berlin: the description, tooltips and table speak APP_TZ.
  assert.match(
    html,
    /<desc id="c-desc">Requests, per 15 minutes, from Mon, 15 Jun 2026, 00:00–00:15 to Mon, 15 Jun 2026, 12:00–12:15, stacked by model\. Total 3 requests\. Busiest: Mon, 15 Jun 2026, 09:00–09:15 with 2 requests\.<\/desc>/,
  );
  assert.match(html, /<title>Mon, 15 Jun 2026, 09:00–09:15 · llama3: 2 requests<\/title>/);
  assert.match(html, /<span class="legend-name">llama3<\/span> <span class="muted">2<\/span>/);
  const table = /<table id="c-table">([\s\S]*?)<\/table>/.exec(html)![1];
  assert.equal([...table.matchAll(/<tr>/g)].length, 1 + 2, "a head and the two periods counted");
  assert.match(table, /<th scope="row">Mon, 15 Jun 2026, 09:00–09:15<\/th><td class="num">2<\/td>/);
  assert.match(html, /<text x="[\d.]+%" y="14" text-anchor="[a-z]+"[^>]*>04:00<\/text>/);
  assert.doesNotMatch(html, /\sstyle=/, "no style attribute: the CSP would block it");
  assert.equal([...html.matchAll(/<rect /g)].length, 2, "a bar per layer of each busy period");
});

Deno.test("long ranges are drawn as step areas, one path per layer", () => {
  const requests = [0, 1, 2].map((d) => ({
    atMs: ms("2026-06-10T10:00:00Z") + d * 86_400_000,
    keyId: 1,
    model: d === 1 ? "qwen3" : "llama3",
  }));
  const html = chartOf(requests, "7d");
  assert.ok(7 * 24 > BARS_UP_TO);
  assert.equal([...html.matchAll(/<path class="s\d"/g)].length, 2);
  assert.equal([...html.matchAll(/<rect /g)].length, 0);
  assert.match(html, />10 Jun<\/text>/, "days labelled at local midnight");
});

Deno.test("an empty chart still has its axes and says nothing was counted", () => {
  const html = chartOf([]);
  assert.match(html, /Total 0 requests\.<\/desc>/);
  assert.match(html, /Nothing was counted in this range/);
});

Deno.test("the value axis is rounded to 1, 2 or 5 steps", () => {
  assert.deepEqual(niceScale(0), { top: 4, step: 1 });
  assert.deepEqual(niceScale(3), { top: 4, step: 1 });
  assert.deepEqual(niceScale(37), { top: 40, step: 10 });
  assert.deepEqual(niceScale(1_000), { top: 1_000, step: 250 });
  assert.deepEqual(niceScale(18_000), { top: 20_000, step: 5_000 });
});
