/**
 * The `upstreams` table as the pool reads it: through a short cache, so a change through this
 * instance's admin reaches the pool at once (the admin empties the cache) and every other
 * instance within UPSTREAMS_TTL_MS (each reads the table again after it).
 * @module
 */
import type { Store } from "../core/store.ts";
import { type StoredUpstream, upstreamConfig } from "../core/upstreams/records.ts";
import type { UpstreamConfig } from "../core/upstreams/types.ts";

/** How long another instance may route by boxes it read before a change (milliseconds). */
export const UPSTREAMS_TTL_MS = 2000;

/** Cached access to the boxes. */
export class UpstreamTable {
  readonly #store: Store;
  readonly #secretsKey: string;
  #rows: StoredUpstream[] | null = null;
  #configs: ReadonlyArray<UpstreamConfig> = [];
  #fingerprint = "";
  #readAt = -Infinity;
  #reading: Promise<StoredUpstream[]> | null = null;

  constructor(store: Store, secretsKey: string) {
    this.#store = store;
    this.#secretsKey = secretsKey;
  }

  /** The boxes, from the cache when it is fresh (concurrent callers share one read). */
  rows(): Promise<StoredUpstream[]> {
    if (this.#rows && performance.now() - this.#readAt < UPSTREAMS_TTL_MS) {
      return Promise.resolve(this.#rows);
    }
    return this.#reading ??= this.#read().finally(() => this.#reading = null);
  }

  /** The boxes as the pool sees them: the same array while nothing changed. */
  async configs(): Promise<ReadonlyArray<UpstreamConfig>> {
    await this.rows();
    return this.#configs;
  }

  /** Forgets what was read: the next read asks the database (after a change made here). */
  invalidate(): void {
    this.#readAt = -Infinity;
  }

  async #read(): Promise<StoredUpstream[]> {
    const rows = await this.#store.listUpstreams();
    const fingerprint = JSON.stringify(rows);
    if (fingerprint !== this.#fingerprint) {
      // The pool compares arrays by identity: a new one only when a box really changed.
      this.#fingerprint = fingerprint;
      this.#configs = rows.map((r) => upstreamConfig(r, this.#secretsKey));
    }
    this.#rows = rows;
    this.#readAt = performance.now();
    return rows;
  }
}
