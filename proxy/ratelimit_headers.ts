/**
 * The x-ratelimit-* headers OpenAI clients read, for the tightest window that has a limit.
 * @module
 */
import type { QuotaState, Tightest } from "../core/admission.ts";
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
  const put = (kind: "requests" | "tokens", t: Tightest | null) => {
    if (!t || t.window === "none") return;
    headers.set(`x-ratelimit-limit-${kind}`, String(t.limit));
    headers.set(`x-ratelimit-remaining-${kind}`, String(t.remaining));
    headers.set(
      `x-ratelimit-reset-${kind}`,
      formatReset(secondsUntil(now, resetAt(windows, t.window))),
    );
  };
  put("requests", quota.requests);
  put("tokens", quota.tokens);
}
