/**
 * The x-ratelimit-* headers OpenAI clients read, for the tightest window that has a limit.
 * @module
 */
import { afterCharge, type QuotaState, type Tightest } from "../core/admission.ts";
import type { Charge } from "../core/settlement.ts";
import { type RequestWindows, resetAt, secondsUntil } from "../core/windows.ts";

/** Formats seconds like OpenAI's reset headers: `59s`, `6m0s`, `3h2m1s`. */
export function formatReset(seconds: number): string {
  const h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** Sets the x-ratelimit-* headers for a quota state on `headers`. */
export function setRateLimitHeaders(
  headers: Headers,
  quota: QuotaState,
  windows: RequestWindows,
  now: Temporal.Instant,
): void {
  for (const [name, value] of Object.entries(rateLimitHeaders(quota, windows, now))) {
    headers.set(name, value);
  }
}

/** The x-ratelimit-* headers for a quota state, as a plain record (lower-case names). */
export function rateLimitHeaders(
  quota: QuotaState,
  windows: RequestWindows,
  now: Temporal.Instant,
): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (kind: "requests" | "tokens", t: Tightest | null) => {
    if (!t || t.window === "none") return;
    out[`x-ratelimit-limit-${kind}`] = String(t.limit);
    out[`x-ratelimit-remaining-${kind}`] = String(t.remaining);
    out[`x-ratelimit-reset-${kind}`] = formatReset(
      secondsUntil(now, resetAt(windows, t.window)),
    );
  };
  put("requests", quota.requests);
  put("tokens", quota.tokens);
  return out;
}

/**
 * The x-ratelimit-* headers of one admitted request: while it runs they count its reservation;
 * once it is settled, what it was charged. An answer sent after settlement (an error, a
 * `stream: false` answer) so says what is really left, and a request that cost nothing gives
 * its reservation back in the headers too.
 */
export class RequestQuota {
  #settled: QuotaState | null = null;

  constructor(
    readonly running: QuotaState,
    readonly released: QuotaState,
    readonly windows: RequestWindows,
    readonly clock: { now(): Temporal.Instant },
  ) {}

  /** Records what the request was charged. */
  settle(charge: Charge): void {
    this.#settled = afterCharge(this.released, {
      charged: charge.charged,
      tokens: charge.promptTokens + charge.completionTokens,
    });
  }

  /** The headers as of now: the reservation's while running, the charge's once settled. */
  headers(): Record<string, string> {
    return rateLimitHeaders(this.#settled ?? this.running, this.windows, this.clock.now());
  }
}
