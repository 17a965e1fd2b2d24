/**
 * Requests in flight per box counted over every gateway sharing a PostgreSQL database: a lease
 * row per request (Store.takeUpstreamLease decides in one statement whether the box has room),
 * deleted when the request ends, and by any instance's releaseStale when its gateway died. So
 * two gateways on one database never send a box more than its max_in_flight together.
 *
 * The pool reads counts synchronously: they come from a poll of the lease table every
 * POLL_MS, adjusted by this process's own takes and releases in between. They only guide the
 * choice of a box; the database decides each take.
 * @module
 */
import type { Store } from "../core/store.ts";
import type { SlotLedger } from "../core/upstreams/slots.ts";

/** How often the counts of every instance are read again (ms). */
export const POLL_MS = 1000;

/** A slot on a box without a limit: counted here only (lease ids start at 1). */
const LOCAL = 0;

/** A ledger in the database, shared by every instance. */
export class SharedSlots implements SlotLedger {
  readonly #store: Store;
  readonly #instanceId: string;
  readonly #onError: (err: unknown) => void;
  /** Counts at the last poll, plus this process's changes since. */
  #counts = new Map<string, number>();
  /** This process's leases per box (any of them may be given back: they are alike). */
  #mine = new Map<string, number[]>();
  /** Leases whose release failed (the database was away): retried at each poll. */
  #unreleased: number[] = [];
  #timer: ReturnType<typeof setInterval> | null = null;
  #polling: Promise<void> | null = null;
  #releasing = new Set<Promise<void>>();
  /** Called when slots may have come free (another instance's release, a late delete). */
  onChange: () => void = () => {};

  constructor(store: Store, instanceId: string, onError: (err: unknown) => void) {
    if (!store.takeUpstreamLease) throw new Error("this store keeps no shared leases");
    this.#store = store;
    this.#instanceId = instanceId;
    this.#onError = onError;
  }

  /** Requests in flight on `box` over every instance, as last known. */
  inFlight(box: string): number {
    return this.#counts.get(box) ?? 0;
  }

  /** Takes a lease in the database when the box has fewer than `limit` out. */
  async take(box: string, limit: number | null): Promise<boolean> {
    const id = Number(box);
    if (!Number.isSafeInteger(id)) throw new Error(`box ${box} has no row to lease`);
    // Counted before the round trip, so this process does not send a second request to a box
    // it believes full meanwhile.
    this.#add(box, 1);
    if (limit === null) {
      // No limit at the gateway (a lone box): nothing to decide together, no round trip.
      this.#push(box, LOCAL);
      return true;
    }
    let lease: number | null;
    try {
      lease = await this.#store.takeUpstreamLease!(id, this.#instanceId, limit);
    } catch (err) {
      this.#add(box, -1);
      throw err;
    }
    if (lease === null) {
      this.#add(box, -1);
      return false;
    }
    this.#push(box, lease);
    return true;
  }

  #push(box: string, lease: number): void {
    const mine = this.#mine.get(box) ?? [];
    mine.push(lease);
    this.#mine.set(box, mine);
  }

  /** Gives back one of this process's leases on `box`; the row is deleted in the background. */
  give(box: string): void {
    const lease = this.#mine.get(box)?.pop();
    if (lease === undefined) throw new Error(`no slot of ${box} is taken`);
    this.#add(box, -1);
    if (lease !== LOCAL) this.#release(lease);
  }

  /** Starts polling the counts of every instance. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.poll(), POLL_MS);
    Deno.unrefTimer(this.#timer);
    this.poll();
  }

  /**
   * Stops polling, waits for running releases, tries once more those that failed (no poll will
   * now), then gives back every lease of this instance still in the table: the gateway stops
   * after its requests ended, so a clean stop leaves no lease holding a box's slot until
   * another instance finds this one silent.
   */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.allSettled([this.#polling, ...this.#releasing]);
    for (const lease of this.#unreleased.splice(0)) this.#release(lease);
    await Promise.allSettled([...this.#releasing]);
    try {
      await this.#store.releaseInstanceLeases?.(this.#instanceId);
    } catch (err) {
      this.#onError(err); // the database is away: other instances' releaseStale frees them
    }
  }

  /** Reads every instance's counts now (and retries releases that failed). */
  poll(): Promise<void> {
    return this.#polling ??= this.#poll().finally(() => this.#polling = null);
  }

  async #poll(): Promise<void> {
    for (const lease of this.#unreleased.splice(0)) this.#release(lease);
    try {
      const before = new Map(this.#counts);
      const counts = await this.#store.upstreamLeaseCounts!();
      this.#counts = new Map([...counts].map(([id, n]) => [String(id), n]));
      // Slots on boxes without a limit are not in the table: this process's are added back.
      for (const [box, leases] of this.#mine) {
        const local = leases.filter((l) => l === LOCAL).length;
        if (local > 0) this.#add(box, local);
      }
      // A box whose count went down may take a waiting request.
      if ([...before].some(([box, n]) => this.inFlight(box) < n)) this.onChange();
    } catch (err) {
      this.#onError(err); // the counts stay as they were; takes still ask the database
    }
  }

  #add(box: string, n: number): void {
    const next = Math.max(0, this.inFlight(box) + n);
    if (next === 0) this.#counts.delete(box);
    else this.#counts.set(box, next);
  }

  #release(lease: number): void {
    const done = this.#store.releaseUpstreamLease!(lease).then(
      () => this.onChange(),
      (err) => {
        this.#unreleased.push(lease);
        this.#onError(err);
      },
    ).finally(() => this.#releasing.delete(done));
    this.#releasing.add(done);
  }
}
