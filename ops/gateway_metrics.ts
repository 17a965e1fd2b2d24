/**
 * The gateway's metrics: what operators graph and alert on. Labels are bounded (route patterns,
 * status codes, limit kinds, store operations); per-key labels only when METRICS_KEY_LABELS is on.
 * @module
 */
import type { Deps } from "../deps.ts";
import { Counter, Gauge, Histogram, Registry } from "./metrics.ts";

/** Seconds; from a fast cached answer to a long generation on a busy GPU. */
const UPSTREAM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** Seconds; first byte comes after the model load and the prompt evaluation. */
const TTFB_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Seconds; a store call is a local SQLite write or a PostgreSQL round trip. */
const DB_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The metric set of one gateway process. */
export class GatewayMetrics {
  readonly registry = new Registry();
  /** Whether counters carry the key's name (`key` label). */
  readonly keyLabels: boolean;

  readonly requests: Counter;
  readonly quotaRejections: Counter;
  readonly tokens: Counter;
  readonly upstreamDuration: Histogram;
  readonly upstreamTtfb: Histogram;
  readonly boxTtfb: Histogram;
  readonly coldLoads: Counter;
  readonly streamsInFlight: Gauge;
  readonly dbDuration: Histogram;
  readonly dbErrors: Counter;

  constructor(keyLabels: boolean) {
    this.keyLabels = keyLabels;
    const key = keyLabels ? ["key"] : [];
    const r = this.registry;
    this.requests = r.register(
      new Counter(
        "llmq_requests_total",
        "Requests answered, by listener, route pattern and final status (499: client left).",
        ["listener", "route", "status", ...key],
      ),
    );
    this.quotaRejections = r.register(
      new Counter(
        "llmq_quota_rejections_total",
        "Requests refused with 429 because a limit was reached, by limit kind.",
        ["limit", ...key],
      ),
    );
    this.tokens = r.register(
      new Counter(
        "llmq_tokens_total",
        "Tokens charged to keys, by route and direction (in: prompt, out: completion).",
        ["route", "direction", ...key],
      ),
    );
    this.upstreamDuration = r.register(
      new Histogram(
        "llmq_upstream_duration_seconds",
        "Time from forwarding a request to Ollama until its answer ended, by route.",
        ["route"],
        UPSTREAM_BUCKETS,
      ),
    );
    this.upstreamTtfb = r.register(
      new Histogram(
        "llmq_upstream_ttfb_seconds",
        "Time from forwarding a request to Ollama until its response began, by route.",
        ["route"],
        TTFB_BUCKETS,
      ),
    );
    // Per box: the `upstream` label is a configured box's name, so the series stay bounded.
    this.boxTtfb = r.register(
      new Histogram(
        "llmq_upstream_box_ttfb_seconds",
        "Time from forwarding a request to an Ollama box until its response began, by box.",
        ["upstream"],
        TTFB_BUCKETS,
      ),
    );
    this.coldLoads = r.register(
      new Counter(
        "llmq_upstream_cold_loads_total",
        "Requests for which an Ollama box loaded the model first (load_duration above 1 s).",
        ["upstream"],
      ),
    );
    this.streamsInFlight = r.register(
      new Gauge("llmq_streams_in_flight", "Streamed answers being sent to clients right now."),
    );
    this.dbDuration = r.register(
      new Histogram(
        "llmq_db_duration_seconds",
        "Time of store calls, by operation (admit, settle, findKeyByHash, …).",
        ["op"],
        DB_BUCKETS,
      ),
    );
    this.dbErrors = r.register(
      new Counter("llmq_db_errors_total", "Store calls that failed, by operation.", ["op"]),
    );
    // Present from the start, so rate() and alerts see a 0 rather than no series.
    this.streamsInFlight.labels();
  }

  /** The `key` label values to append: the key's name when per-key labels are on, else none. */
  keyLabel(name: string | null | undefined): string[] {
    return this.keyLabels ? [name ?? ""] : [];
  }
}

/** The gateway's metrics held in `deps`, created there on first use. */
export function metricsOf(deps: Deps): GatewayMetrics {
  return deps.metrics ??= new GatewayMetrics(deps.config.metricsKeyLabels);
}
