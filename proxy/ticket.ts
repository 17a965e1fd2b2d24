/**
 * The settlement ticket of one admitted request: it is created right after admission, owns the
 * request's place among the requests in flight and its log record, and settles the request
 * exactly once, however it ends (core/settlement.ts says what that costs). A settlement the
 * database refuses is retried in the background; if every retry fails, the pending ledger row
 * is released by the stale-reservation reaper (README "Reliability").
 * @module
 */
import type { Deps } from "../deps.ts";
import { chargeOf, type Outcome } from "../core/settlement.ts";
import { GatewayStopping } from "../core/inflight.ts";
import type { Settlement } from "../core/store.ts";
import type { RequestRecord } from "../ops/request_record.ts";
import type { RequestQuota } from "./ratelimit_headers.ts";

/** Delays between the attempts to record a settlement the database refused (ms). */
const RETRY_DELAYS_MS = [250, 1000, 4000, 15_000, 30_000];

/** One admitted request until it is settled. */
export class SettlementTicket {
  /** Aborts the upstream request: the client left, the header timeout fired, or shutdown. */
  readonly upstream = new AbortController();
  #settled = false;
  #outcome: Outcome | null = null;
  #onSettled: Array<(outcome: Outcome) => void> = [];
  #unregister: () => void;
  readonly #startedMs = performance.now();
  #firstByteMs: number | null = null;

  constructor(
    readonly deps: Deps,
    readonly requestId: number,
    readonly record: RequestRecord,
    /** The prompt's tokens for outcomes without a count from Ollama. */
    readonly promptEstimate: () => number,
    readonly keyPrefix: string,
    /** Its x-ratelimit-* headers, which follow the charge once it is settled. */
    readonly quota: RequestQuota,
  ) {
    this.#unregister = deps.inflight.add(() => this.upstream.abort(new GatewayStopping()));
    record.expectSettlement();
  }

  /** The x-ratelimit-* headers to send now (after settlement: what the request cost). */
  quotaHeaders(): Record<string, string> {
    return this.quota.headers();
  }

  /** Marks that the first byte of the answer goes out now (only the first call counts). */
  firstByte(): void {
    this.#firstByteMs ??= performance.now();
  }

  /** Whether the request is settled already. */
  get settled(): boolean {
    return this.#settled;
  }

  /**
   * Runs `fn` with the outcome when the request is settled (the upstream slot is given back
   * then: a stream holds its box until it ends); at once when it is settled already.
   */
  onSettled(fn: (outcome: Outcome) => void): void {
    if (this.#outcome) fn(this.#outcome);
    else this.#onSettled.push(fn);
  }

  /**
   * Settles the request (only the first call counts): ends its log line and metrics, and
   * resolves once the usage is recorded (or the first attempt failed and retries are queued).
   * `completionEstimate` counts the output when Ollama reported no count for it.
   */
  async settle(outcome: Outcome, completionEstimate: () => number = () => 0): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    this.#outcome = outcome;
    this.#unregister();
    for (const fn of this.#onSettled.splice(0)) {
      try {
        fn(outcome);
      } catch (err) {
        // A hook must never cost the usage record; what failed is logged.
        this.deps.log.error("settlement hook failed", { error: (err as Error).message });
      }
    }
    if (outcome.kind === "answered" && outcome.reported?.invalid) {
      this.deps.log.warn("Ollama reported unusable token counts; estimated instead", {
        fields: outcome.reported.invalid.join(","),
        request_id: this.requestId,
      });
    }
    const charge = chargeOf(outcome, {
      prompt: this.promptEstimate,
      completion: completionEstimate,
    });
    this.quota.settle(charge);
    const settlement: Settlement = {
      requestId: this.requestId,
      charge,
      durationMs: Math.round(performance.now() - this.#startedMs),
      ttfbMs: this.#firstByteMs === null ? null : Math.round(this.#firstByteMs - this.#startedMs),
      timings: outcome.kind === "answered" ? outcome.reported?.timings ?? null : null,
      upstream: this.record.upstream,
    };
    this.record.loadMs = settlement.timings?.loadMs ?? null;
    this.record.settle(
      charge.status,
      charge.promptTokens,
      charge.completionTokens,
      charge.estimated,
      charge.charged,
    );
    try {
      await this.deps.store.settle(settlement);
    } catch (err) {
      this.deps.log.warn("cannot record usage yet; retrying", {
        error: (err as Error).message,
        key: this.keyPrefix,
        request_id: this.requestId,
      });
      // Not awaited: the answer does not wait for the retries. #retry handles every failure
      // of the store itself; this catch is for anything else, so nothing rejects unhandled.
      this.#retry(settlement, 0).catch((e) =>
        this.deps.log.error("settlement retries stopped", {
          error: (e as Error)?.message ?? String(e),
          request_id: this.requestId,
        })
      );
    }
  }

  async #retry(settlement: Settlement, attempt: number): Promise<void> {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, RETRY_DELAYS_MS[attempt]);
      // A retry must not keep a stopping process alive; the reaper covers what is left.
      Deno.unrefTimer(timer);
    });
    try {
      await this.deps.store.settle(settlement);
      this.deps.log.info("usage recorded after a retry", { request_id: this.requestId });
    } catch (err) {
      if (attempt + 1 < RETRY_DELAYS_MS.length) return this.#retry(settlement, attempt + 1);
      this.deps.log.error("cannot record usage; the reaper releases the reservation", {
        error: (err as Error).message,
        key: this.keyPrefix,
        request_id: this.requestId,
      });
    }
  }
}
