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

/** Distinct refused model names kept per key per 15-minute rollup bucket per process. */
export const REFUSED_MODELS_PER_BUCKET = 8;

/** The model name the refusals beyond REFUSED_MODELS_PER_BUCKET are counted under. */
export const OTHER_MODEL = "(other)";

/**
 * Caps the distinct model names of refused requests per key and rollup bucket: a client sending
 * random model names to a refused key must not add a rollup row per name. The counts stay exact;
 * only the names past the cap are merged into OTHER_MODEL. Memory, like RefusalLogCap. Names come
 * canonical (RequestStart.model), so spellings of one model take one place; no canonical name is
 * OTHER_MODEL (each has a tag), so a client cannot name the overflow.
 */
export class RefusedModelCap {
  #bucket = -Infinity;
  #models = new Map<number, Set<string>>();

  constructor(readonly perBucket: number = REFUSED_MODELS_PER_BUCKET) {}

  /** The model name a refusal of `keyId` for `model` in rollup bucket `bucketMs` is counted as. */
  model(keyId: number, model: string, bucketMs: number): string {
    if (bucketMs > this.#bucket) {
      // A new bucket starts every set over; the map never holds more than one bucket's keys.
      this.#bucket = bucketMs;
      this.#models.clear();
    } else if (bucketMs < this.#bucket) {
      // A late refusal for an older bucket: its sets are gone, so it cannot add a name there.
      return OTHER_MODEL;
    }
    let seen = this.#models.get(keyId);
    if (!seen) this.#models.set(keyId, seen = new Set());
    if (seen.has(model)) return model;
    if (seen.size >= this.perBucket) return OTHER_MODEL;
    seen.add(model);
    return model;
  }
}
