/**
 * What one attempt on a box means, before the first byte of its answer reached the client: try
 * the next box or not, and what it says about the box. Retried (on another box): connection
 * refused or reset, no headers before UPSTREAM_CONNECT_TIMEOUT, 503, 429, 500, and a 404 "model
 * not found" from a box that listed the model. Never retried: other 4xx (the request is at
 * fault; another box would say the same) and answers that began. At most three attempts.
 * @module
 */
import type { Verdict } from "./types.ts";

/** Attempts per request at most (the first included). */
export const MAX_ATTEMPTS = 3;

/** How an attempt ended before its answer began. */
export type AttemptEnd =
  /** No connection, or it broke before the headers (refused, reset, DNS, TLS). */
  | { kind: "unreachable" }
  /** No headers before UPSTREAM_CONNECT_TIMEOUT. */
  | { kind: "timeout" }
  /** Headers arrived; `text` is the body when it was read (404 and 503 are read to tell). */
  | { kind: "response"; status: number; text: string | null };

/** Whether to try another box, and what the attempt says about this one. */
export interface Judgement {
  retry: boolean;
  verdict: Verdict;
}

/** Ollama's 503 when its queue is full (`server busy, please try again.  maximum pending …`). */
const SERVER_BUSY = /server busy/i;
/** Ollama's 404 for a model it does not have (`model 'x' not found`, `… not found, try pulling it first`). */
const MODEL_NOT_FOUND = /model .*not found/i;

/** Whether a status is one whose body must be read to judge it. */
export function needsBody(status: number): boolean {
  return status === 404 || status === 503;
}

/** Judges an attempt; `listed`: whether its box listed the model (null: tags unknown). */
export function judge(end: AttemptEnd, listed: boolean | null): Judgement {
  if (end.kind !== "response") return { retry: true, verdict: "failed" };
  const { status, text } = end;
  if (status < 400) return { retry: false, verdict: "ok" };
  if (status === 503) {
    return { retry: true, verdict: SERVER_BUSY.test(text ?? "") ? "busy" : "failed" };
  }
  if (status === 429) return { retry: true, verdict: "busy" };
  if (status === 500) return { retry: true, verdict: "failed" };
  if (status >= 500) return { retry: false, verdict: "failed" };
  if (status === 404 && listed !== false && MODEL_NOT_FOUND.test(text ?? "")) {
    return { retry: true, verdict: "model_missing" };
  }
  return { retry: false, verdict: "neutral" };
}

/**
 * What an attempt may have cost, for the charge when no answer is passed on: 0 nothing was done
 * (unreachable, refused), 1 the box was busy with it but produced nothing (a 500, a failed
 * load), 2 it may have evaluated the prompt (no headers in time).
 */
export function attemptCost(end: AttemptEnd): 0 | 1 | 2 {
  if (end.kind === "timeout") return 2;
  if (end.kind === "response" && end.status >= 500 && end.status !== 503) return 1;
  return 0;
}
