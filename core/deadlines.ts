/**
 * Many deadlines of one fixed length behind a single timer. Every upstream attempt waits at most
 * UPSTREAM_CONNECT_TIMEOUT_MS for its headers, and nearly every attempt ends long before: a
 * `setTimeout` and `clearTimeout` each time cost ~1.3 µs and a timer object (Deno's Node-style
 * timers), an entry in an insertion-ordered Set ~0.15 µs. Deadlines of one length expire in the
 * order they were set, so one timer armed for the oldest live one serves them all.
 * @module
 */

/** A pending deadline; pass it to `cancel` once it no longer matters. */
export interface Deadline {
  readonly at: number;
  readonly onExpire: () => void;
}

/** Deadlines of `ms` each, expiring in the order they were set. */
export class DeadlineQueue {
  readonly #ms: number;
  readonly #now: () => number;
  readonly #live = new Set<Deadline>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number, now: () => number = () => performance.now()) {
    this.#ms = ms;
    this.#now = now;
  }

  /** Calls `onExpire` once `ms` have passed, unless cancelled before. */
  start(onExpire: () => void): Deadline {
    const d: Deadline = { at: this.#now() + this.#ms, onExpire };
    this.#live.add(d);
    if (this.#timer === undefined) this.#arm(d.at);
    return d;
  }

  /** Forgets `d` (an expired or already cancelled one is ignored). */
  cancel(d: Deadline): void {
    this.#live.delete(d);
  }

  /** Deadlines still pending (tests read it). */
  get size(): number {
    return this.#live.size;
  }

  #arm(at: number): void {
    const timer = setTimeout(this.#fire, Math.max(0, at - this.#now()));
    // Pending deadlines must not keep a stopping process alive; what they guard (a fetch)
    // holds the event loop by itself.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #fire = (): void => {
    this.#timer = undefined;
    const now = this.#now();
    for (const d of this.#live) {
      // Insertion order is expiry order: the first one not due yet is where the timer goes.
      if (d.at > now) return this.#arm(d.at);
      this.#live.delete(d);
      try {
        d.onExpire();
      } catch {
        // An expiry callback aborts a controller; should one throw, the others must still run
        // and the timer must still be re-armed.
      }
    }
  };
}
