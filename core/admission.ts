/**
 * The admission rule: whether a request fits every limit that applies to it, how many tokens it
 * reserves and what generation cap it gets. Pure functions over plain data: both stores call
 * `decide` inside their locked transaction, and `admitted` says what an admission adds, so a
 * batch of admissions decided one after the other sees the ones before it.
 * @module
 */
import type { Limit, Policy, Window } from "./model.ts";
import { modelAllowed } from "./model_names.ts";

/** Usage of one window: admitted requests, settled tokens, tokens reserved by requests in flight. */
export interface Counters {
  requests: number;
  tokens: number;
  reserved: number;
}

/** What the store read for one owner of limits, in the windows the request falls in. */
export interface Snapshot {
  minute: Counters;
  day: Counters;
  month: Counters;
  /** Requests of this owner in flight now. */
  inFlight: number;
}

/** Who owns a set of limits: the key, its group, or the person behind a delegating key. */
export type Scope = "key" | "group" | "member";

/** One owner's limits and usage, as admission weighs them. */
export interface ScopeState {
  scope: Scope;
  /** The owner's id (key, group or member id). */
  id: number;
  /** How messages name it: the group's name, the person's name or email. */
  name: string;
  policy: Policy;
  snapshot: Snapshot;
}

/** What the request asks for. */
export interface Ask {
  /** The model it runs (checked against each scope's model list); null: none is named. */
  model?: string | null;
  /** Prompt tokens to reserve: an upper bound, or an exact count (never a guess below it). */
  promptTokens: number;
  /** Whether the route generates output (chat, completions) or only reads input (embeddings). */
  generates: boolean;
  /** The client's own generation limit (max_tokens / num_predict), when it gave a positive one. */
  clientMaxTokens: number | null;
  /** Bound on one request's output reservation when the client gave none. */
  maxReservedTokens: number;
}

/** The tightest limit of one metric, for the x-ratelimit-* headers. */
export interface Tightest {
  limit: number;
  remaining: number;
  window: Window;
  scope: Scope;
}

/** Remaining quota after a decision, per metric. */
export interface QuotaState {
  requests: Tightest | null;
  tokens: Tightest | null;
}

/**
 * Why a limit refused: it is used up by settled usage; requests in flight hold (reserve) what
 * is left; or the prompt needs more than is left.
 */
export type RefusalReason = "used_up" | "reserved" | "does_not_fit";

/** A refusal by a limit. */
export interface LimitRefusal {
  ok: false;
  scope: Scope;
  /** The refusing owner's name (a group's name, a person's), for messages. */
  name: string;
  limit: Limit;
  reason: RefusalReason;
  /** Settled usage of the refusing window (requests, tokens or in-flight requests). */
  used: number;
  /** Tokens reserved in that window by requests in flight. */
  reserved: number;
  /** What this request needed of it. */
  needed: number;
  quota: QuotaState;
}

/** The outcome of an admission. */
export type Decision =
  | {
    ok: true;
    /** Tokens held for this request until it settles (the same in every scope). */
    reservation: number;
    /** The generation cap to send upstream, or null to leave the client's value alone. */
    generationCap: number | null;
    /** What is left while the request runs (its reservation taken). */
    quota: QuotaState;
    /** What is left if the request ends up costing nothing (see `afterCharge`). */
    released: QuotaState;
  }
  /** A scope's model list does not allow the model, or an admin blocked the person. */
  | { ok: false; scope: Scope; reason: "model_not_allowed" | "blocked"; quota: QuotaState }
  | LimitRefusal;

/** Empty counters. */
export const ZERO: Counters = { requests: 0, tokens: 0, reserved: 0 };

/** A snapshot with nothing used. */
export function emptySnapshot(): Snapshot {
  return { minute: { ...ZERO }, day: { ...ZERO }, month: { ...ZERO }, inFlight: 0 };
}

function countersOf(snapshot: Snapshot, window: Window): Counters {
  return window === "none" ? ZERO : snapshot[window];
}

/** How much of `limit` is taken now (settled plus reserved for tokens). */
function taken(limit: Limit, s: Snapshot): number {
  if (limit.metric === "concurrent") return s.inFlight;
  const c = countersOf(s, limit.window);
  return limit.metric === "requests" ? c.requests : c.tokens + c.reserved;
}

/** The remaining quota of every scope, tightest per metric (no request added). */
export function quotaState(scopes: ReadonlyArray<ScopeState>): QuotaState {
  const state: QuotaState = { requests: null, tokens: null };
  for (const { scope, policy, snapshot } of scopes) {
    for (const limit of policy.limits) {
      if (limit.metric === "concurrent") continue;
      const remaining = Math.max(0, limit.max - taken(limit, snapshot));
      const best = state[limit.metric];
      if (best === null || remaining < best.remaining) {
        state[limit.metric] = { limit: limit.max, remaining, window: limit.window, scope };
      }
    }
  }
  return state;
}

/** Decides whether `ask` fits every scope's limits; never mutates anything. */
export function decide(scopes: ReadonlyArray<ScopeState>, ask: Ask): Decision {
  const refuse = (
    s: ScopeState,
    limit: Limit,
    reason: RefusalReason,
    used: number,
    reserved: number,
    needed: number,
  ): Decision => ({
    ok: false,
    scope: s.scope,
    name: s.name,
    limit,
    reason,
    used,
    reserved,
    needed,
    quota: quotaState(scopes),
  });

  if (ask.model) {
    for (const s of scopes) {
      if (!modelAllowed(s.policy.models, ask.model)) {
        return {
          ok: false,
          scope: s.scope,
          reason: "model_not_allowed",
          quota: quotaState(scopes),
        };
      }
    }
  }

  // Requests and requests in flight first: each admission takes one of each.
  for (const s of scopes) {
    for (const limit of s.policy.limits) {
      if (limit.metric === "tokens") continue;
      const used = taken(limit, s.snapshot);
      if (used + 1 > limit.max) return refuse(s, limit, "used_up", used, 0, 1);
    }
  }

  // Tokens: the tightest window of any scope bounds the prompt and the generation.
  let remaining = Infinity;
  let tightest: { s: ScopeState; limit: Limit; c: Counters } | null = null;
  for (const s of scopes) {
    for (const limit of s.policy.limits) {
      if (limit.metric !== "tokens") continue;
      const c = countersOf(s.snapshot, limit.window);
      const left = limit.max - c.tokens - c.reserved;
      if (left < remaining) {
        remaining = left;
        tightest = { s, limit, c };
      }
    }
  }
  let generationCap = outputCeiling(scopes, ask);
  let reservation = 0;
  if (tightest !== null) {
    // A generating request needs room for its prompt and at least one output token.
    const needed = ask.promptTokens + (ask.generates ? 1 : 0);
    if (needed > remaining) {
      const { s, limit, c } = tightest;
      const reason: RefusalReason = c.tokens >= limit.max
        ? "used_up"
        : needed <= limit.max - c.tokens && c.reserved > 0
        ? "reserved"
        : "does_not_fit";
      return refuse(s, limit, reason, c.tokens, c.reserved, needed);
    }
    if (ask.generates) {
      generationCap = Math.min(
        remaining - ask.promptTokens,
        ask.clientMaxTokens ?? ask.maxReservedTokens,
        generationCap ?? Infinity,
      );
    }
    reservation = ask.promptTokens + (ask.generates ? generationCap ?? 0 : 0);
  }
  const after = scopes.map((s) => ({ ...s, snapshot: admitted(s.snapshot, reservation) }));
  return {
    ok: true,
    reservation,
    generationCap,
    quota: quotaState(after),
    released: quotaState(scopes),
  };
}

/**
 * What is left once an admitted request is settled: its reservation released and its charge
 * taken, from `released`. The charge is taken in every scope and window alike, so the tightest
 * limit stays the tightest; concurrency is not part of a quota state.
 */
export function afterCharge(
  released: QuotaState,
  charge: { charged: boolean; tokens: number },
): QuotaState {
  const less = (t: Tightest | null, used: number): Tightest | null =>
    t === null ? null : { ...t, remaining: Math.max(0, t.remaining - used) };
  return {
    requests: less(released.requests, charge.charged ? 1 : 0),
    tokens: less(released.tokens, charge.tokens),
  };
}

/**
 * The generation ceiling the policies set without a token limit (max_output_tokens), lowered
 * to the client's own when that is smaller; null when nothing caps the output.
 */
function outputCeiling(scopes: ReadonlyArray<ScopeState>, ask: Ask): number | null {
  if (!ask.generates) return null;
  let cap: number | null = null;
  for (const s of scopes) {
    const max = s.policy.max_output_tokens;
    if (max !== null && (cap === null || max < cap)) cap = max;
  }
  if (cap === null) return null;
  return ask.clientMaxTokens !== null ? Math.min(cap, ask.clientMaxTokens) : cap;
}

/** The snapshot after one admission reserving `reservation` tokens (what the store writes). */
export function admitted(s: Snapshot, reservation: number): Snapshot {
  const add = (c: Counters): Counters => ({
    requests: c.requests + 1,
    tokens: c.tokens,
    reserved: c.reserved + reservation,
  });
  return { minute: add(s.minute), day: add(s.day), month: add(s.month), inFlight: s.inFlight + 1 };
}

/**
 * Whether a refusal may turn into an admission when asked again with the prompt's exact count
 * instead of its upper bound: a token limit the bound does not fit.
 */
export function retriableWithEstimate(decision: Decision): boolean {
  return !decision.ok && "limit" in decision && decision.reason === "does_not_fit" &&
    decision.limit.metric === "tokens";
}
