/**
 * What the Usage page says about a set of rollup rows: their sums, rates, percentiles and
 * Ollama's timings. Computed from counters alone, so any range and any grouping agree.
 * @module
 */
import { addHistograms, histogramPercentile } from "./percentile.ts";
import { SCALAR_COLUMNS } from "./rollup.ts";
import type { UsageCounters } from "./types.ts";
import { zeroCounters } from "./usage.ts";

/** The counters of several rows added up (histograms bucket by bucket). */
export function addCounters(rows: readonly UsageCounters[]): UsageCounters {
  const sum = zeroCounters();
  const into = sum as unknown as Record<string, number>;
  for (const row of rows) {
    const from = row as unknown as Record<string, number>;
    for (const f of SCALAR_COLUMNS) into[f] += from[f];
    sum.errors += row.errors;
  }
  sum.duration_hist = addHistograms(rows.map((r) => r.duration_hist));
  sum.ttfb_hist = addHistograms(rows.map((r) => r.ttfb_hist));
  return sum;
}

/** The headline figures of some counters; null where nothing was counted to compute it from. */
export interface UsageSummary {
  requests: number;
  tokens: number;
  /** Shares of all requests (0–1). */
  refusalRate: number | null;
  errorRate: number | null;
  /** Upper bounds (ms) of the buckets holding the 50th and 95th percentile; Infinity: above all. */
  p50Ms: number | null;
  p95Ms: number | null;
  ttfbP50Ms: number | null;
  ttfbP95Ms: number | null;
  /** Ollama's times per request that reported them (ms). */
  loadMs: number | null;
  prefillMs: number | null;
  decodeMs: number | null;
  /** Completion tokens per second of Ollama's eval time. */
  tokensPerSecond: number | null;
  coldLoads: number;
}

/** The headline figures of some counters. */
export function summarize(c: UsageCounters): UsageSummary {
  const share = (n: number) => c.requests > 0 ? n / c.requests : null;
  const perAnswer = (ms: number) => c.timing_count > 0 ? ms / c.timing_count : null;
  return {
    requests: c.requests,
    tokens: c.prompt_tokens + c.completion_tokens,
    refusalRate: share(c.refused),
    errorRate: share(c.errors),
    p50Ms: histogramPercentile(c.duration_hist, 0.5),
    p95Ms: histogramPercentile(c.duration_hist, 0.95),
    ttfbP50Ms: histogramPercentile(c.ttfb_hist, 0.5),
    ttfbP95Ms: histogramPercentile(c.ttfb_hist, 0.95),
    loadMs: perAnswer(c.load_ms),
    prefillMs: perAnswer(c.prompt_eval_ms),
    decodeMs: perAnswer(c.eval_ms),
    tokensPerSecond: c.eval_ms > 0 ? c.completion_tokens / (c.eval_ms / 1000) : null,
    coldLoads: c.cold_loads,
  };
}
