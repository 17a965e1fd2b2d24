/**
 * The 429 answered when a limit refuses a request: names the limit, whose it is (the key, its
 * team, the person) and why, in words a person reads in a chat window, and says when to retry.
 * @module
 */
import type { LimitRefusal } from "../core/admission.ts";
import { kindOf } from "../core/limits.ts";
import { type RequestWindows, resetAt, secondsUntil } from "../core/windows.ts";
import { ProxyError } from "./errors.ts";

/** How long a client waits for requests in flight to settle and free their reservation. */
const RESERVED_RETRY_SECONDS = 5;

const count = (n: number) => n.toLocaleString("en-US");

/** "in 45 s", "in 12 min", "in 3 h 12 min", "in 15 days". */
export function inWords(seconds: number): string {
  if (seconds < 60) return `in ${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.floor(seconds / 3600), rest = Math.floor(seconds % 3600 / 60);
  if (hours < 48) return `in ${hours} h${rest ? ` ${rest} min` : ""}`;
  return `in ${Math.round(seconds / 86400)} days`;
}

/** When a window resets, for a message: "at 00:00 Europe/Berlin (in 3 h 12 min)". */
function whenReset(
  window: "minute" | "day" | "month",
  windows: RequestWindows,
  now: Temporal.Instant,
  timeZone: string,
): string {
  const seconds = secondsUntil(now, resetAt(windows, window));
  if (window === "minute") return `at the start of the next minute (${inWords(seconds)})`;
  const local = resetAt(windows, window).toZonedDateTimeISO(timeZone);
  const time = local.toPlainTime().toString({ smallestUnit: "minute" });
  const date = window === "month"
    ? ` on ${local.toPlainDate().toLocaleString("en-GB", { dateStyle: "medium" })}`
    : "";
  return `${date ? date.trim() + " " : ""}at ${time} ${timeZone} (${inWords(seconds)})`;
}

/** A limit's unit for `n`: "1 request per day", "2 requests per day". */
function unitFor(unit: string, n: number): string {
  return n === 1 ? unit.replace(/^(\w+?)s\b/, "$1") : unit;
}

/** "is" for one, "are" for any other count. */
const isAre = (n: number) => n === 1 ? "is" : "are";

const PERIOD: Record<string, string> = { minute: "per-minute", day: "daily", month: "monthly" };

/** How the refusing limit is named, by whom it belongs to, and what it says when used up. */
function subject(refusal: LimitRefusal): { what: string; usedUp: string } {
  const { limit } = refusal;
  const kind = kindOf(limit);
  const amount = `${count(limit.max)} ${unitFor(kind.unit, limit.max)}`;
  const period = PERIOD[limit.window] ?? "";
  const metric = limit.metric === "tokens" ? "token" : "request";
  switch (refusal.scope) {
    case "group": {
      const what = limit.window === "none"
        ? `Team '${refusal.name}' concurrent requests (${amount})`
        : `Team '${refusal.name}' ${period} ${metric}s (${amount})`;
      return { what, usedUp: `${what.replace(/ \(.*\)$/, "")} used up (${amount})` };
    }
    case "member": {
      const what = limit.window === "none"
        ? `Your concurrent requests (${amount})`
        : `Your ${period} ${metric} quota (${count(limit.max)})`;
      return { what, usedUp: `${what} is used up` };
    }
    default: {
      const what = `${kind.title} (${amount})`;
      return { what, usedUp: `${kind.title} reached (${amount})` };
    }
  }
}

/** Builds the 429 for a refusal by a limit, with Retry-After until the window frees up. */
export function quotaExceeded(
  refusal: LimitRefusal,
  windows: RequestWindows,
  now: Temporal.Instant,
  timeZone: string,
  headers: Headers,
): ProxyError {
  const { limit, reason } = refusal;
  const kind = kindOf(limit);
  const extra: Record<string, string> = {
    ...Object.fromEntries(headers),
    "x-ratelimit-scope": refusal.scope,
  };
  const { what, usedUp } = subject(refusal);
  let message: string;
  let retryAfter: number;
  let retrySoon = false;
  if (limit.window === "none") {
    message = `${usedUp}: as many are running now; retry when one of them ends`;
    retryAfter = 1;
    retrySoon = true;
  } else {
    retryAfter = secondsUntil(now, resetAt(windows, limit.window));
    const reset = whenReset(limit.window, windows, now, timeZone);
    const left = Math.max(0, limit.max - refusal.used - refusal.reserved);
    if (reason === "reserved") {
      message =
        `${what}: ${count(refusal.reserved)} ${
          refusal.reserved === 1 ? "token is" : "tokens are"
        } reserved by requests still running and ${count(left)} ${isAre(left)} left now; ` +
        `retry in a few seconds, when they have finished`;
      retryAfter = Math.min(retryAfter, RESERVED_RETRY_SECONDS);
      retrySoon = true;
    } else if (reason === "does_not_fit") {
      message = `${what}: this request needs up to ${
        count(refusal.needed)
      } tokens (its prompt, estimated, and at least one token of output) but only ${count(left)} ${
        isAre(left)
      } left; it resets ${reset}`;
    } else {
      message = `${usedUp}; it resets ${reset}`;
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
