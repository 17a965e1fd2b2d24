/**
 * One throttle for every admin credential check: the API's bearer password, the /metrics tokens
 * and the UI's login form.
 *
 * Why one global budget, not one per client address: any local process can send from every
 * address in 127.0.0.0/8, and behind a reverse proxy every admin shares the proxy's address, so
 * a per-address limit neither stops a guesser nor spares the admin. The budget is a leaky bucket
 * of wrong credentials shared by all sources: the first {@link GuardOptions.freeFailures} cost
 * nothing, every further one locks checking for an exponentially growing time (1 s, 2 s, 4 s …,
 * at most {@link GuardOptions.maxLockMs}), and the bucket drains by one failure per
 * {@link GuardOptions.leakMs}. Under a sustained attack that is one guess per minute at the
 * defaults: 1,440 a day, half a million a year per gateway process — hopeless against a random
 * password (start-up refuses short and example ones, core/config.ts), while an admin who
 * mistypes a few times is never slowed down.
 *
 * Why a locked guard refuses a request *without* checking its credential, the right password
 * included: if the right password were still accepted while wrong ones get 429, the 429 would
 * only say "wrong" and the guesser would keep guessing at full speed — the lock would slow
 * nobody. So during a lock every anonymous attempt gets 429 with `Retry-After`, unchecked.
 * What keeps the real admin in:
 * - a lock is short (at most a minute) and needs many wrong credentials; a few typos never
 *   cause one, and it ends by itself at most a minute after the guessing stops;
 * - UI sessions are not credential checks: an admin already signed in keeps working;
 * - a browser that signed in before holds a trusted-device cookie (random, known only to this
 *   process). Its login is checked even during a lock, against its own small budget
 *   ({@link GuardOptions.deviceFailures} wrong passwords and the browser loses that trust), so
 *   the admin can sign in while a guesser, who has no such cookie, is throttled. Bearer clients
 *   (scripts, Prometheus) carry no cookie: they get 429 while the guessing lasts, and a warning
 *   in the log tells the operator why.
 *
 * Every comparison is constant-time (core/secrets.ts). The warning is logged once a lock first
 * engages and then at most once per minute while attempts keep failing or being refused. With
 * several gateway processes each has its own budget.
 * @module
 */
import { randomToken } from "../core/base64url.ts";
import type { Clock } from "../core/clock.ts";
import type { Logger } from "../core/log.ts";
import { secretsEqual } from "../core/secrets.ts";

/** Where a credential was presented, for the log. */
export type CredentialSource = "api" | "metrics" | "login";

/** The guard's answer to one attempt. */
export type Verdict =
  /** One of the secrets matched; `index` says which. */
  | { kind: "accepted"; index: number }
  /** Checked and wrong. */
  | { kind: "wrong" }
  /** Not checked: too many wrong credentials lately; try again after `retryAfterSeconds`. */
  | { kind: "throttled"; retryAfterSeconds: number };

/** Tuning of the guard; the defaults are described in the module comment. */
export interface GuardOptions {
  /** Wrong credentials the bucket holds before checks are locked. */
  freeFailures?: number;
  /** The bucket drains by one failure per this many ms. */
  leakMs?: number;
  /** The first lock; each further failure doubles it. */
  baseLockMs?: number;
  /** The longest lock. */
  maxLockMs?: number;
  /** Wrong passwords a trusted browser may send before it loses its trust. */
  deviceFailures?: number;
  /** Trusted browsers remembered (the oldest is forgotten first). */
  maxDevices?: number;
  /** At most one guessing warning per this many ms. */
  warnEveryMs?: number;
}

/** One attempt to present a credential. */
export interface Attempt {
  /** What the client sent. */
  given: string;
  /** The secrets that would let it in (e.g. ADMIN_PASSWORD and METRICS_TOKEN). */
  secrets: readonly string[];
  source: CredentialSource;
  /** The socket address, for the log only. */
  address: string;
  /** The trusted-device id the browser sent, if any (UI login only). */
  device?: string;
}

/** Throttles admin credential checks with one global budget; see the module comment. */
export class CredentialGuard {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #o: Required<GuardOptions>;
  #level = 0;
  #levelAtMs = 0;
  #lockedUntilMs = 0;
  /** Trusted device id → wrong passwords it sent since its last success. */
  readonly #devices = new Map<string, number>();
  #lastWarnMs = Number.NEGATIVE_INFINITY;
  #wrongSinceWarn = 0;
  #refusedSinceWarn = 0;

  constructor(clock: Clock, log: Logger, options: GuardOptions = {}) {
    this.#clock = clock;
    this.#log = log;
    this.#o = {
      freeFailures: 10,
      leakMs: 60_000,
      baseLockMs: 1_000,
      maxLockMs: 60_000,
      deviceFailures: 5,
      maxDevices: 20,
      warnEveryMs: 60_000,
      ...options,
    };
  }

  #now(): number {
    return this.#clock.now().epochMilliseconds;
  }

  /** The bucket's level now, after draining since it was last touched. */
  #drained(now: number): number {
    const level = Math.max(0, this.#level - Math.max(0, now - this.#levelAtMs) / this.#o.leakMs);
    this.#level = level;
    this.#levelAtMs = now;
    return level;
  }

  /**
   * Checks one attempt, or refuses it unchecked while locked (a trusted browser excepted).
   * Synchronous, so concurrent attempts cannot all slip through before a failure is counted.
   */
  check(attempt: Attempt): Verdict {
    const now = this.#now();
    const trusted = attempt.device !== undefined && this.#devices.has(attempt.device);
    if (!trusted && now < this.#lockedUntilMs) {
      this.#refusedSinceWarn++;
      this.#warn(now, attempt);
      return {
        kind: "throttled",
        retryAfterSeconds: Math.ceil((this.#lockedUntilMs - now) / 1000),
      };
    }
    // Every secret is compared, so the time taken does not say which one came close.
    const matches = attempt.secrets.map((s) => secretsEqual(attempt.given, s));
    const index = matches.indexOf(true);
    if (index >= 0) {
      // A success leaves the bucket as it is: it says nothing about who else is guessing.
      if (trusted) this.#devices.set(attempt.device!, 0);
      return { kind: "accepted", index };
    }
    if (trusted) {
      const failures = this.#devices.get(attempt.device!)! + 1;
      if (failures >= this.#o.deviceFailures) this.#devices.delete(attempt.device!);
      else this.#devices.set(attempt.device!, failures);
    }
    this.#fail(now, attempt);
    return { kind: "wrong" };
  }

  #fail(now: number, attempt: Attempt): void {
    const level = this.#drained(now) + 1;
    this.#level = level;
    this.#wrongSinceWarn++;
    const excess = Math.ceil(level - this.#o.freeFailures);
    if (excess > 0) {
      const lockMs = Math.min(this.#o.maxLockMs, this.#o.baseLockMs * 2 ** (excess - 1));
      this.#lockedUntilMs = Math.max(this.#lockedUntilMs, now + lockMs);
      this.#warn(now, attempt);
    }
    // Bounded: a wrong credential is only ever checked within the budget.
    this.#log.warn("admin credential wrong", { source: attempt.source, address: attempt.address });
  }

  #warn(now: number, attempt: Attempt): void {
    if (now - this.#lastWarnMs < this.#o.warnEveryMs) return;
    this.#lastWarnMs = now;
    this.#log.warn("admin password guessing: credential checks are throttled", {
      source: attempt.source,
      address: attempt.address,
      wrong: this.#wrongSinceWarn,
      refused: this.#refusedSinceWarn,
      retry_after_s: Math.max(0, Math.ceil((this.#lockedUntilMs - now) / 1000)),
    });
    this.#wrongSinceWarn = 0;
    this.#refusedSinceWarn = 0;
  }

  /**
   * Remembers a browser that just signed in and returns the id for its cookie: the id it
   * already holds when that one is still trusted, else a new one.
   */
  trustDevice(current?: string): string {
    const id = current !== undefined && this.#devices.has(current) ? current : randomToken();
    this.#devices.delete(id); // re-inserted last: the most recently used is forgotten last
    this.#devices.set(id, 0);
    while (this.#devices.size > this.#o.maxDevices) {
      this.#devices.delete(this.#devices.keys().next().value!);
    }
    return id;
  }
}
