/**
 * The 429 answered when a limit is reached: names the limit, says when it resets.
 * @module
 */
import type { LimitKind } from "../core/quota.ts";
import { type QuotaWindows, secondsUntil } from "../core/windows.ts";
import { ProxyError } from "./errors.ts";

const DESCRIBE: Record<LimitKind, { title: string; unit: string; window: "day" | "month" }> = {
  daily_requests: { title: "Daily request limit", unit: "requests per day", window: "day" },
  monthly_requests: { title: "Monthly request limit", unit: "requests per month", window: "month" },
  daily_tokens: { title: "Daily token limit", unit: "tokens per day", window: "day" },
  monthly_tokens: { title: "Monthly token limit", unit: "tokens per month", window: "month" },
};

const CODES: Record<LimitKind, string> = {
  daily_requests: "daily_request_limit_exceeded",
  monthly_requests: "monthly_request_limit_exceeded",
  daily_tokens: "daily_token_limit_exceeded",
  monthly_tokens: "monthly_token_limit_exceeded",
};

/** Builds the 429 for an exhausted limit, with Retry-After until that window resets. */
export function quotaExceeded(
  limit: LimitKind,
  limitValue: number,
  windows: QuotaWindows,
  now: Temporal.Instant,
  timeZone: string,
  headers: Headers,
): ProxyError {
  const d = DESCRIBE[limit];
  const resetAt = d.window === "day" ? windows.dayResetAt : windows.monthResetAt;
  const resetText = resetAt.toZonedDateTimeISO(timeZone).toString({ timeZoneName: "never" });
  const extra = Object.fromEntries(headers);
  return new ProxyError(
    429,
    `${d.title} reached (${limitValue} ${d.unit}); it resets at ${resetText} ${timeZone}`,
    CODES[limit],
    {
      ...extra,
      "retry-after": String(secondsUntil(now, resetAt)),
      // A quota does not clear in seconds: tell OpenAI SDKs not to retry at once.
      "x-should-retry": "false",
    },
  );
}
