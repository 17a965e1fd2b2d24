/** A source of the current time, injectable so tests can cross midnights and DST changes. */
export interface Clock {
  now(): Temporal.Instant;
}

/** The real wall clock. */
export const systemClock: Clock = { now: () => Temporal.Now.instant() };

/** A clock that stands still until moved; for tests. */
export class ManualClock implements Clock {
  #instant: Temporal.Instant;
  constructor(iso: string) {
    this.#instant = Temporal.Instant.from(iso);
  }
  /** Returns the set instant. */
  now(): Temporal.Instant {
    return this.#instant;
  }
  /** Moves the clock to an ISO instant such as `2026-03-29T00:30:00+01:00`. */
  set(iso: string): void {
    this.#instant = Temporal.Instant.from(iso);
  }
}
