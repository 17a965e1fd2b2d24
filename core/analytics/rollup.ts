/**
 * The rollup rule: how one ledger row (a settled, abandoned or refused request) adds to the
 * usage rollups. Written once here. SQLite applies `rollupOf` when it settles, abandons or
 * refuses a request; PostgreSQL applies it in TS for refusals and abandonments, and
 * reimplements it in SQL for settlement batches (db/postgres.ts SETTLED_ROLLUP_CTES, built on
 * db/rollup_sql.ts `perRow`), as both audits do when they recompute the counters from the
 * ledger. The store contract tests (tests/db/analytics_test.ts) hold every SQL form to this
 * rule.
 * @module
 */
import type { Decision } from "../admission.ts";
import { kindOf } from "../limits.ts";
import { LATENCY_BUCKETS_MS } from "./types.ts";

/** A UTC 15-minute bucket, in ms. Every IANA offset is a multiple of it. */
export const BUCKET_MS = 15 * 60_000;

/** The start (epoch ms) of the UTC 15-minute bucket an instant falls in. */
export function bucketOf(epochMs: number): number {
  return Math.floor(epochMs / BUCKET_MS) * BUCKET_MS;
}

/** How a logged request ended, as the rollups count it. */
export type Ending =
  | "ok"
  | "client_error"
  | "upstream_error"
  | "disconnected"
  | "refused"
  | "abandoned";

/**
 * The ending of a settled request from its status: 2xx ok, 499 (the client left) disconnected,
 * other 4xx the request's fault, anything else (5xx, 502, 504, a shutdown's 503) upstream.
 */
export function endingOf(status: number): Ending {
  if (status >= 200 && status < 300) return "ok";
  if (status === 499) return "disconnected";
  if (status >= 400 && status < 500) return "client_error";
  return "upstream_error";
}

/** What refused a request, as the ledger records it. */
export interface RefusalFacts {
  /** The HTTP status the client got (429 by a limit, 403 by the model list or a block). */
  status: number;
  /** `daily_tokens`, `concurrent_requests`, `model_not_allowed`, `blocked`; `group:`/`member:` prefixed for those scopes. */
  refusedBy: string;
}

/** The ledger facts of a refusal decision. */
export function refusalOf(decision: Decision & { ok: false }): RefusalFacts {
  const slug = "limit" in decision ? kindOf(decision.limit).slug : decision.reason;
  return {
    status: "limit" in decision ? 429 : 403,
    refusedBy: decision.scope === "key" ? slug : `${decision.scope}:${slug}`,
  };
}

/** Which refusal counter a `refused_by` adds to. */
export function refusalKind(
  refusedBy: string,
): "requests" | "tokens" | "concurrent" | "model" | "other" {
  const slug = refusedBy.slice(refusedBy.indexOf(":") + 1);
  if (slug === "concurrent_requests") return "concurrent";
  if (slug === "model_not_allowed") return "model";
  if (slug.includes("tokens")) return "tokens";
  if (slug.includes("requests")) return "requests";
  return "other";
}

/** One ledger row as the rollups see it. */
export interface LedgerFacts {
  ending: Ending;
  /** Whether it counts against quotas (charged, or abandoned: its unit stays taken). */
  charged: boolean;
  refusedBy: string | null;
  /** For a refusal: whether it was logged as a ledger row too (within the per-key cap). */
  logged?: boolean;
  promptTokens: number;
  completionTokens: number;
  estimated: boolean;
  durationMs: number | null;
  ttfbMs: number | null;
  loadMs: number | null;
  promptEvalMs: number | null;
  evalMs: number | null;
}

/** Ollama's load time above which a request counts as a cold load (the model was loaded for it). */
export const COLD_LOAD_MS = 1000;

/** Histogram buckets: one per LATENCY_BUCKETS_MS bound, plus one above the last. */
export const HIST_BUCKETS = LATENCY_BUCKETS_MS.length + 1;

/** The scalar counters of a rollup row, in column order. */
export const SCALAR_COLUMNS = [
  "requests",
  "ok",
  "refused",
  "refused_requests",
  "refused_tokens",
  "refused_concurrent",
  "refused_other",
  "refused_model",
  "client_errors",
  "upstream_errors",
  "disconnected",
  "abandoned",
  "charged",
  "prompt_tokens",
  "completion_tokens",
  "estimated",
  "duration_ms",
  "duration_count",
  "ttfb_ms",
  "ttfb_count",
  "load_ms",
  "prompt_eval_ms",
  "eval_ms",
  "timing_count",
  "cold_loads",
] as const;

/**
 * Counters kept for the rollup audit only, not read by usage: `refused_logged`, the refusals
 * also logged as ledger rows (within the per-key cap), which the audit compares exactly with
 * the ledger's refused rows (migration 5), and `refusals_unlogged`, those past the cap, counted
 * only here (migration 7): every rollup row holds refused = refused_logged + refusals_unlogged,
 * so a refusal lost or counted twice shows even where the ledger cannot tell. A new column
 * needs its own migration.
 */
export const AUDIT_COLUMNS = ["refused_logged", "refusals_unlogged"] as const;

/** Every counter column of a rollup row: the scalars, the two histograms, the audit's. */
export const ROLLUP_COLUMNS: readonly string[] = [
  ...SCALAR_COLUMNS,
  ...Array.from({ length: HIST_BUCKETS }, (_, i) => `dh${i}`),
  ...Array.from({ length: HIST_BUCKETS }, (_, i) => `th${i}`),
  ...AUDIT_COLUMNS,
];

/** Increments of one rollup row, aligned with ROLLUP_COLUMNS. */
export type RollupIncrement = number[];

/** The histogram bucket of a latency: the first bound it does not exceed, else the last. */
export function histogramBucket(ms: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (ms <= LATENCY_BUCKETS_MS[i]) return i;
  return LATENCY_BUCKETS_MS.length;
}

const AT: Record<string, number> = Object.fromEntries(ROLLUP_COLUMNS.map((c, i) => [c, i]));

/** What one ledger row adds to the rollups. */
export function rollupOf(f: LedgerFacts): RollupIncrement {
  const v = new Array<number>(ROLLUP_COLUMNS.length).fill(0);
  const add = (column: string, n: number) => v[AT[column]] += n;
  add("requests", 1);
  switch (f.ending) {
    case "ok":
      add("ok", 1);
      break;
    case "client_error":
      add("client_errors", 1);
      break;
    case "upstream_error":
      add("upstream_errors", 1);
      break;
    case "disconnected":
      add("disconnected", 1);
      break;
    case "abandoned":
      add("abandoned", 1);
      break;
    case "refused":
      add("refused", 1);
      add(`refused_${refusalKind(f.refusedBy ?? "")}`, 1);
      add(f.logged ? "refused_logged" : "refusals_unlogged", 1);
      break;
  }
  if (f.charged) add("charged", 1);
  add("prompt_tokens", f.promptTokens);
  add("completion_tokens", f.completionTokens);
  if (f.estimated) add("estimated", 1);
  if (f.durationMs !== null) {
    add("duration_ms", f.durationMs);
    add("duration_count", 1);
    add(`dh${histogramBucket(f.durationMs)}`, 1);
  }
  if (f.ttfbMs !== null) {
    add("ttfb_ms", f.ttfbMs);
    add("ttfb_count", 1);
    add(`th${histogramBucket(f.ttfbMs)}`, 1);
  }
  if (f.loadMs !== null || f.promptEvalMs !== null || f.evalMs !== null) {
    add("timing_count", 1);
    add("load_ms", f.loadMs ?? 0);
    add("prompt_eval_ms", f.promptEvalMs ?? 0);
    add("eval_ms", f.evalMs ?? 0);
    if ((f.loadMs ?? 0) > COLD_LOAD_MS) add("cold_loads", 1);
  }
  return v;
}

/**
 * What a ledger row's change adds to its rollup row: all of `after` for a row counted for the
 * first time (`before` null), else the difference (a late settlement of an abandoned request
 * moves it from abandoned to how it really ended, and adds its tokens).
 */
export function rollupDelta(before: LedgerFacts | null, after: LedgerFacts): RollupIncrement {
  const next = rollupOf(after);
  if (before === null) return next;
  const prev = rollupOf(before);
  return next.map((n, i) => n - prev[i]);
}

/** What an abandoned request (its gateway presumed dead) is counted as until it settles. */
export const ABANDONED: LedgerFacts = {
  ending: "abandoned",
  charged: true,
  refusedBy: null,
  promptTokens: 0,
  completionTokens: 0,
  estimated: true,
  durationMs: null,
  ttfbMs: null,
  loadMs: null,
  promptEvalMs: null,
  evalMs: null,
};

/** Adds `inc` into `sum` (same alignment). */
export function addInto(sum: number[], inc: readonly number[]): void {
  for (let i = 0; i < inc.length; i++) sum[i] += inc[i];
}
