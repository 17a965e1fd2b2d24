/**
 * What is known about one request as it runs: filled in by the handlers (model, tokens, upstream
 * timings), read once at the end for the request's log line and metrics.
 * @module
 */

/** Hono variables set by the request tracker. */
export type RequestVariables = { request: RequestRecord };

const INCOMING_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * The request id: the client's X-Request-Id when it is a plain token (so a log line cannot be
 * forged or broken by it), else a new UUID.
 */
export function requestIdFrom(incoming: string | null | undefined): string {
  return incoming && INCOMING_ID.test(incoming) ? incoming : crypto.randomUUID();
}

/** One request's facts, timed with performance.now() (milliseconds). */
export class RequestRecord {
  readonly startedMs = performance.now();
  model: string | null = null;
  /** The limit that refused the request with 429, if one did. */
  quotaLimit: string | null = null;
  promptTokens = 0;
  completionTokens = 0;
  estimated = false;
  charged = false;
  /** When the request was forwarded to Ollama; -1: never. */
  forwardedMs = -1;
  /** When Ollama's response began (headers received); -1: never. */
  answeredMs = -1;
  /** The name of the Ollama box whose answer is relayed, once one is. */
  upstream: string | null = null;
  /** Ollama's load_duration for this request (ms) when it reported one. */
  loadMs: number | null = null;
  /** The settled status (499 client left, 502 upstream lost…); 0 until settled. */
  settledStatus = 0;
  settledMs = -1;
  #awaitsSettlement = false;
  #onSettled: (() => void) | null = null;

  constructor(readonly id: string) {}

  /** Marks the moment the request is sent to Ollama. */
  forwarding(): void {
    this.forwardedMs = performance.now();
  }

  /** Marks the moment Ollama's response began, and on which box (by name). */
  upstreamAnswered(upstream: string | null = null): void {
    this.answeredMs = performance.now();
    this.upstream = upstream;
  }

  /** Says the request was admitted, so it ends when it is settled (a stream: when it ends). */
  expectSettlement(): void {
    this.#awaitsSettlement = true;
  }

  /** Records how an admitted request ended; runs the end-of-request work if it was waiting. */
  settle(
    status: number,
    promptTokens: number,
    completionTokens: number,
    estimated: boolean,
    charged: boolean,
  ): void {
    if (this.settledMs >= 0) return;
    this.settledStatus = status;
    this.settledMs = performance.now();
    this.promptTokens = charged ? promptTokens : 0;
    this.completionTokens = charged ? completionTokens : 0;
    this.estimated = estimated;
    this.charged = charged;
    const waiting = this.#onSettled;
    this.#onSettled = null;
    waiting?.();
  }

  /** Whether the response left the handler before the request was settled (a running stream). */
  get pending(): boolean {
    return this.#awaitsSettlement && this.settledMs < 0;
  }

  /** Runs `fn` once the request is settled. */
  whenSettled(fn: () => void): void {
    if (this.settledMs >= 0) fn();
    else this.#onSettled = fn;
  }
}
