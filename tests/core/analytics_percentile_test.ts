import assert from "node:assert/strict";
import { addHistograms, histogramPercentile } from "../../core/analytics/percentile.ts";
import { addCounters, summarize } from "../../core/analytics/summary.ts";
import { zeroCounters } from "../../core/analytics/usage.ts";
import { LATENCY_BUCKETS_MS } from "../../core/analytics/types.ts";

/** A histogram with `counts` at the given bucket indexes. */
function hist(counts: Record<number, number>): number[] {
  const h = new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
  for (const [i, n] of Object.entries(counts)) h[Number(i)] = n;
  return h;
}

Deno.test("a percentile is the upper bound of the bucket that holds its rank", () => {
  // 10 requests: 5 in ≤10 ms, 4 in ≤250 ms, 1 in ≤5 s.
  const h = hist({ 0: 5, 4: 4, 8: 1 });
  assert.equal(histogramPercentile(h, 0.5), 10, "rank 5 is the last of the first bucket");
  assert.equal(histogramPercentile(h, 0.6), 250, "rank 6 is in the ≤250 ms bucket");
  assert.equal(histogramPercentile(h, 0.9), 250);
  assert.equal(histogramPercentile(h, 0.95), 5_000, "rank 10 (ceil 9.5)");
  assert.equal(histogramPercentile(h, 1), 5_000);
});

Deno.test("a percentile above the last bound is Infinity; nothing counted is null", () => {
  assert.equal(histogramPercentile(hist({ [LATENCY_BUCKETS_MS.length]: 3 }), 0.5), Infinity);
  assert.equal(histogramPercentile(hist({}), 0.5), null);
  assert.throws(() => histogramPercentile(hist({ 0: 1 }), 0), RangeError);
  assert.throws(() => histogramPercentile(hist({ 0: 1 }), 1.5), RangeError);
});

Deno.test("percentiles of added histograms are those of all their requests", () => {
  // One period fast, one slow: the p95 of the two together is the slow bucket, which an
  // average of the two periods' p95 (≤50 and ≤2.5 s) would not give.
  const fast = hist({ 2: 95 });
  const slow = hist({ 7: 5 });
  const both = addHistograms([fast, slow]);
  assert.deepEqual(both, hist({ 2: 95, 7: 5 }));
  assert.equal(histogramPercentile(both, 0.95), 50);
  assert.equal(histogramPercentile(both, 0.96), 2_500);
});

Deno.test("a summary derives rates, Ollama's times and tokens per second from counters", () => {
  const a = {
    ...zeroCounters(),
    requests: 10,
    ok: 8,
    refused: 1,
    upstream_errors: 1,
    errors: 1,
    timing_count: 8,
    completion_tokens: 400,
    prompt_tokens: 100,
    load_ms: 800,
    prompt_eval_ms: 160,
    eval_ms: 8_000,
    cold_loads: 1,
    duration_hist: hist({ 5: 8 }),
  };
  const s = summarize(addCounters([a, zeroCounters()]));
  assert.equal(s.requests, 10);
  assert.equal(s.tokens, 500);
  assert.equal(s.refusalRate, 0.1);
  assert.equal(s.errorRate, 0.1);
  assert.equal(s.tokensPerSecond, 50, "400 tokens in 8 s of eval");
  assert.equal(s.loadMs, 100, "per answered request");
  assert.equal(s.p50Ms, 500);
  assert.equal(s.ttfbP50Ms, null, "no first byte counted");
  assert.equal(s.coldLoads, 1);
  const none = summarize(zeroCounters());
  assert.equal(none.refusalRate, null);
  assert.equal(none.tokensPerSecond, null);
});
