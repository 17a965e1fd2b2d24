/**
 * Whether a box takes requests: ejection after failures in a row, with a doubling back-off and a
 * single trial request afterwards, and saturation after Ollama's 503 "server busy", which lowers
 * the box's capacity to what it was already running and lets it grow back one success at a time.
 * Pure state: every method takes the time (milliseconds) it happens at.
 * @module
 */

/** Failures in a row (connection errors, timeouts, 5xx, fast ones too) that eject a box. */
export const EJECT_AFTER_FAILURES = 3;
/** How long a first ejection lasts (ms); each failed trial doubles it. */
export const FIRST_EJECTION_MS = 10_000;
/** The longest ejection (ms). */
export const MAX_EJECTION_MS = 5 * 60_000;
/**
 * How long a box saturated down to no capacity at all rests before it gets one request again
 * (ms): with nothing in flight no success could ever grow its capacity back.
 */
export const SATURATION_REST_MS = 5_000;

/** A box's health: taking requests, ejected until a time, or waiting for its one trial. */
export type HealthState = "healthy" | "ejected" | "trial";

/** Ejection bookkeeping of one box. */
export class BoxHealth {
  #failures = 0;
  /** The length of the current or last ejection (ms); 0: not ejected since the last success. */
  #ejectionMs = 0;
  #until = 0;
  #trialOut = false;
  /** Ejections so far (for metrics and the admin). */
  ejections = 0;

  /** The state at `now`. */
  state(now: number): HealthState {
    if (this.#ejectionMs === 0) return "healthy";
    return now < this.#until ? "ejected" : "trial";
  }

  /** Until when the box is ejected (ms), or null when it is not. */
  ejectedUntil(now: number): number | null {
    return this.state(now) === "ejected" ? this.#until : null;
  }

  /** Failures in a row so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Whether a request may be sent now: healthy, or on trial with the trial not taken yet. */
  open(now: number): boolean {
    const state = this.state(now);
    return state === "healthy" || (state === "trial" && !this.#trialOut);
  }

  /** Whether the box is on trial with its one trial request under way. */
  trialTaken(now: number): boolean {
    return this.state(now) === "trial" && this.#trialOut;
  }

  /** Takes the trial for a request; false when the box is not on trial or it is taken. */
  takeTrial(now: number): boolean {
    if (this.state(now) !== "trial" || this.#trialOut) return false;
    this.#trialOut = true;
    return true;
  }

  /** Gives the trial back unused (the request learned nothing: the client left). */
  returnTrial(): void {
    this.#trialOut = false;
  }

  /** A failure; true when it ejected the box. Failures during an ejection change nothing. */
  failed(now: number): boolean {
    const state = this.state(now);
    if (state === "ejected") return false;
    if (state === "trial") {
      this.#eject(now, Math.min(this.#ejectionMs * 2, MAX_EJECTION_MS));
      return true;
    }
    this.#failures++;
    if (this.#failures < EJECT_AFTER_FAILURES) return false;
    this.#eject(now, FIRST_EJECTION_MS);
    return true;
  }

  /**
   * A success: ends a failure streak, and a trial's success ends the ejection (the next one
   * starts short again). A success during an ejection came from a request sent before it: the
   * trial still decides.
   */
  succeeded(now: number): void {
    const state = this.state(now);
    if (state === "ejected") return;
    this.#failures = 0;
    this.#ejectionMs = 0;
    this.#trialOut = false;
  }

  #eject(now: number, ms: number): void {
    this.#ejectionMs = ms;
    this.#until = now + ms;
    this.#failures = 0;
    this.#trialOut = false;
    this.ejections++;
  }
}

/** Saturation of one box after a 503 "server busy": a lowered capacity that grows back. */
export class Saturation {
  /** The lowered capacity; null: not saturated. */
  #limit: number | null = null;
  /** Where saturation ends: the box's max_in_flight, else what it ran when it said busy. */
  #target = 0;
  #since = 0;

  /** The lowered capacity at `now`, or null when the box is not saturated. */
  limit(now: number): number | null {
    if (this.#limit === 0 && now - this.#since >= SATURATION_REST_MS) this.#limit = 1;
    return this.#limit;
  }

  /**
   * The box said busy while `inFlight` requests (this one included) were on it: its capacity
   * drops to the others, those still running.
   */
  busy(now: number, inFlight: number, maxInFlight: number | null): void {
    const others = Math.max(0, inFlight - 1);
    this.#limit = this.#limit === null ? others : Math.min(this.#limit, others);
    this.#target = maxInFlight ?? Math.max(1, inFlight);
    this.#since = now;
  }

  /** A success: the capacity grows by one, and saturation ends once it is back. */
  succeeded(maxInFlight: number | null): void {
    if (this.#limit === null) return;
    this.#limit++;
    if (this.#limit >= (maxInFlight ?? this.#target)) this.#limit = null;
  }
}
