/**
 * Metrics per Ollama box: requests in flight, the queue, how long requests waited for a box,
 * attempts by verdict, ejections and "server busy" answers. The `upstream` label is the box's
 * name (host and port), so the series are bounded by the configured boxes.
 * @module
 */
import type { PoolObserver } from "../core/upstreams/pool.ts";
import { Counter, Gauge, Histogram } from "./metrics.ts";
import type { GatewayMetrics } from "./gateway_metrics.ts";

/** Seconds; from no wait at all to the longest QUEUE_TIMEOUT_SECONDS one would set. */
const QUEUE_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

const observers = new WeakMap<GatewayMetrics, PoolObserver>();

/** The pool observer that records into `metrics` (registered once per registry). */
export function upstreamMetrics(metrics: GatewayMetrics): PoolObserver {
  let observer = observers.get(metrics);
  if (!observer) observers.set(metrics, observer = create(metrics));
  return observer;
}

function create(metrics: GatewayMetrics): PoolObserver {
  const r = metrics.registry;
  const inFlight = r.register(
    new Gauge("llmq_upstream_in_flight", "Requests running on each Ollama box.", ["upstream"]),
  );
  const queueDepth = r.register(
    new Gauge("llmq_upstream_queue_depth", "Requests waiting for a free Ollama box."),
  );
  const queueWait = r.register(
    new Histogram(
      "llmq_upstream_queue_seconds",
      "Time requests waited for a free Ollama box, by the box they got.",
      ["upstream"],
      QUEUE_BUCKETS,
    ),
  );
  const attempts = r.register(
    new Counter(
      "llmq_upstream_attempts_total",
      "Attempts on each Ollama box, by verdict (ok, failed, busy, model_missing, neutral).",
      ["upstream", "verdict"],
    ),
  );
  const ejections = r.register(
    new Counter(
      "llmq_upstream_ejections_total",
      "Times an Ollama box was taken out of rotation after failures in a row.",
      ["upstream"],
    ),
  );
  const saturations = r.register(
    new Counter(
      "llmq_upstream_saturations_total",
      'Times an Ollama box answered "server busy" (its capacity was lowered).',
      ["upstream"],
    ),
  );
  queueDepth.labels();
  return {
    inFlight: (box, count) => inFlight.labels(box.name).set(count),
    queueDepth: (depth) => queueDepth.labels().set(depth),
    placed: (box, ms) => queueWait.labels(box.name).observe(ms / 1000),
    attempt: (box, verdict) => attempts.labels(box.name, verdict).inc(),
    ejected: (box) => ejections.labels(box.name).inc(),
    saturated: (box) => saturations.labels(box.name).inc(),
  };
}
