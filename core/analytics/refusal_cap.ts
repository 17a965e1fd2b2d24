/**
 * A cap on logged refusals: a key hammering a limit must not be able to grow the request log.
 * Every refusal is counted in the rollups; only the first few per key and minute are logged as
 * ledger rows, per gateway process (the cap is memory, not a database read on a hot path).
 * @module
 */

/** Refusal rows logged per key per UTC minute per process. */
export const REFUSAL_ROWS_PER_MINUTE = 20;

/** Counts logged refusals per key in the current minute. */
export class RefusalLogCap {
  #minute = -1;
  #counts = new Map<number, number>();

  constructor(readonly perMinute: number = REFUSAL_ROWS_PER_MINUTE) {}

  /** Whether a refusal of `keyId` at `nowMs` may be logged as a row (and counts it if so). */
  admit(keyId: number, nowMs: number): boolean {
    const minute = Math.floor(nowMs / 60_000);
    if (minute !== this.#minute) {
      // A new minute starts every count over; the map never holds more than one minute's keys.
      this.#minute = minute;
      this.#counts.clear();
    }
    const n = this.#counts.get(keyId) ?? 0;
    if (n >= this.perMinute) return false;
    this.#counts.set(keyId, n + 1);
    return true;
  }
}
