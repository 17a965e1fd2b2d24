/**
 * Requests in flight per box. The pool only counts through a {@link SlotLedger}: in one process
 * a {@link LocalSlots}; on PostgreSQL a ledger that every gateway instance shares can stand in,
 * so that they never exceed a box's max_in_flight together.
 * @module
 */

/** Where in-flight requests per box are counted. */
export interface SlotLedger {
  /** Requests in flight on `box` as the ledger knows them (all instances for a shared one). */
  inFlight(box: string): number;
  /**
   * Takes a slot on `box` if fewer than `limit` are taken (null: no limit); whether it did. A
   * shared ledger decides in its database, so the answer may be a promise.
   */
  take(box: string, limit: number | null): boolean | Promise<boolean>;
  /** Gives back one slot that `take` granted (the pool's leases call it exactly once). */
  give(box: string): void;
}

/** Slots counted in this process. */
export class LocalSlots implements SlotLedger {
  #counts = new Map<string, number>();

  /** Requests in flight on `box`. */
  inFlight(box: string): number {
    return this.#counts.get(box) ?? 0;
  }

  /** Takes a slot when fewer than `limit` are taken. */
  take(box: string, limit: number | null): boolean {
    const n = this.inFlight(box);
    if (limit !== null && n >= limit) return false;
    this.#counts.set(box, n + 1);
    return true;
  }

  /** Gives a slot back; a slot given back twice is a bug, and is refused rather than counted. */
  give(box: string): void {
    const n = this.inFlight(box);
    if (n <= 0) throw new Error(`no slot of ${box} is taken`);
    if (n === 1) this.#counts.delete(box);
    else this.#counts.set(box, n - 1);
  }
}
