/**
 * The 429 answered when a limit refuses a request: names the limit and the reason in words a
 * person reads in a chat window, says when to retry.
 * @module
 */
import type { LimitRefusal } from "../core/admission.ts";
import { kindOf } from "../core/limits.ts";
import { type RequestWindows, resetAt, secondsUntil } from "../core/windows.ts";
import { ProxyError } from "./errors.ts";

/** How long a client waits for requests in flight to settle and free their reservation. */
const RESERVED_RETRY_SECONDS = 5;

const count = (n: number) => n.toLocaleString("en-US");

/** Builds the 429 for a refusal, with Retry-After until the window frees up. */
export function quotaExceeded(
  refusal: LimitRefusal,
  windows: RequestWindows,
  now: Temporal.Instant,
  timeZone: string,
  headers: Headers,
): ProxyError {
  const { limit, reason } = refusal;
  const kind = kindOf(limit);
  const extra: Record<string, string> = Object.fromEntries(headers);
  let message: string;
  let retryAfter: number;
  let retrySoon = false;
  if (limit.window === "none") {
    message = `${kind.title} reached (${
      count(limit.max)
    } ${kind.unit}); retry when one of them ends`;
    retryAfter = 1;
    retrySoon = true;
  } else {
    const reset = resetAt(windows, limit.window);
    const resetText = limit.window === "minute"
      ? "at the start of the next minute"
      : `at ${reset.toZonedDateTimeISO(timeZone).toString({ timeZoneName: "never" })} ${timeZone}`;
    retryAfter = secondsUntil(now, reset);
    const left = Math.max(0, limit.max - refusal.used - refusal.reserved);
    if (reason === "reserved") {
      message =
        `${kind.title} (${count(limit.max)} ${kind.unit}): ${
          count(refusal.reserved)
        } tokens are reserved by requests still running and ${count(left)} are left now; ` +
        `retry in a few seconds, when they have finished`;
      retryAfter = Math.min(retryAfter, RESERVED_RETRY_SECONDS);
      retrySoon = true;
    } else if (reason === "does_not_fit") {
      message = `${kind.title} (${count(limit.max)} ${kind.unit}): this request needs up to ${
        count(refusal.needed)
      } tokens (its prompt, estimated, and at least one token of output) but only ${
        count(left)
      } are left; it resets ${resetText}`;
    } else {
      message = `${kind.title} reached (${count(limit.max)} ${kind.unit}); it resets ${resetText}`;
    }
  }
  return new ProxyError(429, message, kind.code, {
    ...extra,
    "retry-after": String(retryAfter),
    // A quota does not clear in seconds: tell OpenAI SDKs not to retry at once.
    ...(retrySoon ? {} : { "x-should-retry": "false" }),
  });
}

/** The 403 for a model the key (or its group) may not use; names only the requested model. */
export function modelNotAllowed(model: string): ProxyError {
  return new ProxyError(
    403,
    `Model ${JSON.stringify(model)} is not allowed for this API key`,
    "model_not_allowed",
  );
}
