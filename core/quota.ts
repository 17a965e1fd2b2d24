/**
 * The admission rule: whether a request fits a key's four limits, and how many tokens it reserves.
 * Pure functions; the stores call `decideAdmission` inside their locked transaction.
 * @module
 */

/** A key's four limits; null means unlimited. */
export interface Limits {
  daily_request_limit: number | null;
  monthly_request_limit: number | null;
  daily_token_limit: number | null;
  monthly_token_limit: number | null;
}

/** Usage of one window: settled requests and tokens, plus tokens reserved by requests in flight. */
export interface Counters {
  requests: number;
  tokens: number;
  reserved: number;
}

/** Counters of the current day and month. */
export interface WindowUsage {
  day: Counters;
  month: Counters;
}

/** Which limit a refusal names. */
export type LimitKind = "daily_requests" | "monthly_requests" | "daily_tokens" | "monthly_tokens";

/** What the request asks for. */
export interface Ask {
  /** Estimated prompt tokens. */
  promptTokens: number;
  /** Whether the route generates output (chat, completions) or only reads input (embeddings). */
  generates: boolean;
  /** The client's own generation limit (max_tokens / num_predict), when it gave a positive one. */
  clientMaxTokens: number | null;
  /** Bound on one request's output reservation when the client gave none. */
  maxReservedTokens: number;
}

/** The tightest window with a limit, for the x-ratelimit-* headers. */
export interface Tightest {
  limit: number;
  remaining: number;
  window: "day" | "month";
}

/** Remaining-quota view of a key after a decision. */
export interface QuotaState {
  requests: Tightest | null;
  tokens: Tightest | null;
}

/** The outcome of an admission. */
export type Decision =
  | {
    ok: true;
    /** Tokens held for this request until it settles. */
    reservation: number;
    /** The generation cap to send upstream, or null to leave the client's value alone. */
    generationCap: number | null;
    quota: QuotaState;
  }
  | { ok: false; limit: LimitKind; limitValue: number; quota: QuotaState };

function tightest(
  entries: Array<{ limit: number | null; used: number; window: "day" | "month" }>,
): Tightest | null {
  let best: Tightest | null = null;
  for (const e of entries) {
    if (e.limit === null) continue;
    const remaining = Math.max(0, e.limit - e.used);
    if (best === null || remaining < best.remaining) {
      best = { limit: e.limit, remaining, window: e.window };
    }
  }
  return best;
}

/** Describes the remaining quota of a key given its usage (no request added). */
export function quotaState(limits: Limits, usage: WindowUsage): QuotaState {
  return {
    requests: tightest([
      { limit: limits.daily_request_limit, used: usage.day.requests, window: "day" },
      { limit: limits.monthly_request_limit, used: usage.month.requests, window: "month" },
    ]),
    tokens: tightest([
      {
        limit: limits.daily_token_limit,
        used: usage.day.tokens + usage.day.reserved,
        window: "day",
      },
      {
        limit: limits.monthly_token_limit,
        used: usage.month.tokens + usage.month.reserved,
        window: "month",
      },
    ]),
  };
}

/** Decides whether `ask` fits `limits` given `usage`; never mutates anything. */
export function decideAdmission(limits: Limits, usage: WindowUsage, ask: Ask): Decision {
  const before = quotaState(limits, usage);
  const requestChecks: Array<[LimitKind, number | null, number]> = [
    ["daily_requests", limits.daily_request_limit, usage.day.requests],
    ["monthly_requests", limits.monthly_request_limit, usage.month.requests],
  ];
  for (const [kind, limit, used] of requestChecks) {
    if (limit !== null && used + 1 > limit) {
      return { ok: false, limit: kind, limitValue: limit, quota: before };
    }
  }

  const tokenChecks: Array<[LimitKind, number | null, number]> = [
    ["daily_tokens", limits.daily_token_limit, usage.day.tokens + usage.day.reserved],
    ["monthly_tokens", limits.monthly_token_limit, usage.month.tokens + usage.month.reserved],
  ];
  let reservation = 0;
  let generationCap: number | null = null;
  let remaining = Infinity;
  let tightestKind: LimitKind | null = null;
  let tightestLimit = 0;
  for (const [kind, limit, used] of tokenChecks) {
    if (limit !== null && limit - used < remaining) {
      remaining = limit - used;
      tightestKind = kind;
      tightestLimit = limit;
    }
  }
  if (tightestKind !== null) {
    // A generating request needs room for its prompt and at least one output token.
    const needed = ask.promptTokens + (ask.generates ? 1 : 0);
    if (needed > remaining) {
      return { ok: false, limit: tightestKind, limitValue: tightestLimit, quota: before };
    }
    if (ask.generates) {
      generationCap = Math.min(
        remaining - ask.promptTokens,
        ask.clientMaxTokens ?? ask.maxReservedTokens,
      );
    }
    reservation = ask.promptTokens + (generationCap ?? 0);
  }

  const after = quotaState(limits, {
    day: {
      ...usage.day,
      requests: usage.day.requests + 1,
      reserved: usage.day.reserved + reservation,
    },
    month: {
      ...usage.month,
      requests: usage.month.requests + 1,
      reserved: usage.month.reserved + reservation,
    },
  });
  return { ok: true, reservation, generationCap, quota: after };
}

/** Whether a key has any token limit (only then are prompts estimated before forwarding). */
export function hasTokenLimit(limits: Limits): boolean {
  return limits.daily_token_limit !== null || limits.monthly_token_limit !== null;
}

/** Tokens left under the tightest token limit (reservations count as used); null: no limit. */
export function tokensLeft(limits: Limits, usage: WindowUsage): number | null {
  return quotaState(limits, usage).tokens?.remaining ?? null;
}
