/**
 * Usage analytics: the shapes the rollups are read in. The store (db/) fills them from
 * pre-aggregated rollups only, never from the request log; admin routes, the CLI and the Usage
 * page read them through `Store.usage` and `Store.requestLog`.
 * @module
 */

/** Upper bounds (ms, inclusive) of the latency histogram's buckets; one more bucket is "above". */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  10,
  25,
  50,
  100,
  250,
  500,
  1_000,
  2_500,
  5_000,
  10_000,
  25_000,
  60_000,
  120_000,
  300_000,
];

/** Counters of one group of rollup rows. */
export interface UsageCounters {
  /** Requests counted (admitted, plus refusals by a quota or the key's models). */
  requests: number;
  /** Answered by Ollama with a 2xx. */
  ok: number;
  /** Refused by the gateway: by a limit, by the key's model list, or a blocked person. */
  refused: number;
  /**
   * Refusals by limit metric: requests, tokens, concurrent; by a model list (`refused_model`);
   * `refused_other`: by a block (and, before migration 7, model-list refusals past the log cap).
   */
  refused_requests: number;
  refused_tokens: number;
  refused_concurrent: number;
  refused_other: number;
  /** Refusals by a model list (the key's own, its group's or its person's). */
  refused_model: number;
  /** Ollama answered 4xx (the request's fault). */
  client_errors: number;
  /** Ollama failed, timed out or could not be reached (5xx, 502, 504). */
  upstream_errors: number;
  /** The client left before the answer ended. */
  disconnected: number;
  /** Pending requests released because their gateway went silent (charged, tokens unknown). */
  abandoned: number;
  /** client_errors + upstream_errors + abandoned. */
  errors: number;
  /** Requests that count against quotas (the quota day counters' `requests`). */
  charged: number;
  prompt_tokens: number;
  completion_tokens: number;
  /** Requests whose tokens were estimated (Ollama reported none). */
  estimated: number;
  /** Sums in ms over the requests that have them. */
  duration_ms: number;
  ttfb_ms: number;
  load_ms: number;
  prompt_eval_ms: number;
  eval_ms: number;
  /** How many requests each sum is over: duration, TTFB, and Ollama's timings (load…eval). */
  duration_count: number;
  ttfb_count: number;
  timing_count: number;
  /** Requests whose Ollama load_duration was above 1 s. */
  cold_loads: number;
  /** Counts per LATENCY_BUCKETS_MS bucket (length LATENCY_BUCKETS_MS.length + 1). */
  duration_hist: number[];
  ttfb_hist: number[];
}

/** What `Store.usage` can group by; time dimensions are local periods in the query's zone. */
export type UsageDimension = "15m" | "hour" | "day" | "month" | "model" | "key" | "route";

/** A usage question. Instants are UTC ms on 15-minute boundaries (from inclusive, to exclusive). */
export interface UsageQuery {
  fromMs: number;
  toMs: number;
  /** IANA zone the time dimensions are local to (APP_TZ). */
  timeZone: string;
  groupBy: UsageDimension[];
  keyId?: number;
  model?: string;
  route?: string;
  /**
   * The counters to read (default "all"): a chart names what it shows, since every counter
   * read is summed over every rollup row. Counters not named come back as 0; an empty list is
   * refused (AnalyticsInputError).
   */
  counters?: readonly CounterName[] | "all";
}

/** A counter of a usage row, as `UsageQuery.counters` names it. */
export type CounterName = keyof UsageCounters;

/** One group of a usage answer; only the dimensions asked for are set. */
export interface UsageRow extends UsageCounters {
  /** Start of the local period, ISO with offset (`2026-03-29T00:00:00+01:00`). */
  period?: string;
  model?: string;
  key_id?: number;
  route?: string;
}

/** How a logged request ended, as the request log filters it. */
export type RequestStatus = "ok" | "refused" | "error" | "disconnected" | "pending";

/** A request-log question: newest first, keyset paginated. */
export interface RequestQuery {
  fromMs: number;
  toMs: number;
  keyId?: number;
  model?: string;
  route?: string;
  status?: RequestStatus;
  /** Rows strictly older than this position (from the previous page's last row). */
  before?: { startedAt: string; id: number };
  limit: number;
}

/** One request of the log. */
export interface RequestRow {
  id: number;
  started_at: string;
  key_id: number;
  key_name: string;
  member_id: number | null;
  group_id: number | null;
  route: string;
  model: string;
  upstream: string | null;
  status: RequestStatus;
  http_status: number | null;
  /** Which limit refused it (`tokens_day`, `model`, …) when refused. */
  refused_by: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  estimated: boolean;
  duration_ms: number | null;
  ttfb_ms: number | null;
}
