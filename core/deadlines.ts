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

/** The longest delay a timer takes. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Deadlines of `ms` each, expiring in the order they were set. */
export class DeadlineQueue {
  readonly #ms: number;
  readonly #live = new Set<Deadline>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /** Calls `onExpire` once `ms` have passed, unless cancelled before. */
  start(onExpire: () => void): Deadline {
    const d: Deadline = { at: performance.now() + this.#ms, onExpire };
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
    // Node-style timers take at most 2^31 - 1 ms and turn a longer delay into 1 ms: a longer
    // deadline is reached in several arms instead.
    const timer = setTimeout(
      this.#fire,
      Math.min(MAX_DELAY_MS, Math.max(0, Math.ceil(at - performance.now()))),
    );
    // Pending deadlines must not keep a stopping process alive; what they guard (a fetch)
    // holds the event loop by itself.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    for (const d of this.#live) {
      // Insertion order is expiry order: the first one not due yet is where the timer goes.
      if (d.at > now) {
        // A callback may have started a deadline, and armed the timer for it, already.
        if (this.#timer === undefined) this.#arm(d.at);
        return;
      }
      this.#live.delete(d);
      try {
        d.onExpire();
      } catch {
        // An expiry callback aborts a controller, which does not throw (listeners' errors are
        // reported by the event target). Should one throw all the same, the other deadlines
        // must still expire and the timer be armed again, and an error thrown out of a timer
        // would end the process: it is dropped here.
      }
    }
  };
}
