/**
 * Time for the routing core: a monotonic clock and one-shot timers, injectable so that tests
 * move time by hand instead of waiting.
 * @module
 */

/** A monotonic clock in milliseconds with one-shot timers. */
export interface Scheduler {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Runs `fn` once after `ms`; returns the function that cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/** Real time; its timers never keep a stopping process alive. */
export const realScheduler: Scheduler = {
  now: () => performance.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    Deno.unrefTimer(timer);
    return () => clearTimeout(timer);
  },
};
