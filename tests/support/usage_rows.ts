/**
 * Usage rows made from a list of requests, for tests of the Usage page's views: what a store's
 * `usage` would answer for them, grouped in the test itself (no rollup tables involved).
 * @module
 */
import { zeroCounters } from "../../core/analytics/usage.ts";
import {
  LATENCY_BUCKETS_MS,
  type UsageDimension,
  type UsageRow,
} from "../../core/analytics/types.ts";

/** One request of a fixture. */
export interface FakeRequest {
  atMs: number;
  keyId: number;
  model: string;
  route?: string;
  outcome?: "ok" | "refused_tokens" | "refused_requests" | "upstream_error";
  prompt?: number;
  completion?: number;
  durationMs?: number;
  ttfbMs?: number;
  loadMs?: number;
  evalMs?: number;
}

function bucketOf(ms: number): number {
  const i = LATENCY_BUCKETS_MS.findIndex((b) => ms <= b);
  return i === -1 ? LATENCY_BUCKETS_MS.length : i;
}

function periodOf(ms: number, unit: "15m" | "hour" | "day", timeZone: string): string {
  const z = Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(timeZone);
  const start = unit === "15m"
    ? Temporal.Instant.fromEpochMilliseconds(Math.floor(ms / 900_000) * 900_000)
      .toZonedDateTimeISO(timeZone)
    : z.round({ smallestUnit: unit, roundingMode: "floor" });
  return start.toString({ timeZoneName: "never", fractionalSecondDigits: 0 });
}

/** The rows of `requests` grouped by `groupBy` (time units local to `timeZone`). */
export function usageRowsOf(
  requests: readonly FakeRequest[],
  groupBy: readonly UsageDimension[],
  timeZone: string,
): UsageRow[] {
  const groups = new Map<string, UsageRow>();
  for (const r of requests) {
    const row: Partial<UsageRow> = {};
    for (const d of groupBy) {
      if (d === "model") row.model = r.model;
      else if (d === "key") row.key_id = r.keyId;
      else if (d === "route") row.route = r.route ?? "/api/chat";
      else if (d !== "month") row.period = periodOf(r.atMs, d, timeZone);
    }
    const id = JSON.stringify(row);
    const g = groups.get(id) ?? { ...zeroCounters(), ...row };
    groups.set(id, g);
    const outcome = r.outcome ?? "ok";
    g.requests++;
    if (outcome === "ok") {
      g.ok++;
      g.prompt_tokens += r.prompt ?? 10;
      g.completion_tokens += r.completion ?? 20;
      const duration = r.durationMs ?? 400;
      const ttfb = r.ttfbMs ?? 120;
      g.duration_ms += duration;
      g.ttfb_ms += ttfb;
      g.duration_hist[bucketOf(duration)]++;
      g.ttfb_hist[bucketOf(ttfb)]++;
      g.duration_count++;
      g.ttfb_count++;
      g.timing_count++;
      g.load_ms += r.loadMs ?? 5;
      g.eval_ms += r.evalMs ?? 200;
      if ((r.loadMs ?? 0) > 1000) g.cold_loads++;
    } else if (outcome === "upstream_error") {
      g.upstream_errors++;
      g.errors++;
    } else {
      g.refused++;
      if (outcome === "refused_tokens") g.refused_tokens++;
      else g.refused_requests++;
    }
  }
  return [...groups.values()];
}
