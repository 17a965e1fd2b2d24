/**
 * Throttles wrong admin passwords per client address, so the password cannot be guessed at speed.
 * @module
 */
import type { Clock } from "../core/clock.ts";

/** Options for the throttle; the defaults block an address for 5 minutes after 5 misses in 1. */
export interface LoginThrottleOptions {
  maxFailures?: number;
  windowMs?: number;
  blockMs?: number;
}

interface Entry {
  failures: number[];
  blockedUntilMs: number;
}

/** Counts failed logins per address and says when an address must wait. */
export class LoginThrottle {
  #entries = new Map<string, Entry>();
  #clock: Clock;
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly blockMs: number;

  constructor(
    clock: Clock,
    { maxFailures = 5, windowMs = 60_000, blockMs = 5 * 60_000 }: LoginThrottleOptions = {},
  ) {
    this.#clock = clock;
    this.maxFailures = maxFailures;
    this.windowMs = windowMs;
    this.blockMs = blockMs;
  }

  #nowMs(): number {
    return this.#clock.now().epochMilliseconds;
  }

  /** Seconds the address must still wait before trying again; 0 when it may try now. */
  retryAfterSeconds(address: string): number {
    const entry = this.#entries.get(address);
    const left = entry ? entry.blockedUntilMs - this.#nowMs() : 0;
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Records a wrong password; blocks the address once it reaches the limit within the window. */
  recordFailure(address: string): void {
    const now = this.#nowMs();
    this.#prune(now);
    const entry = this.#entries.get(address) ?? { failures: [], blockedUntilMs: 0 };
    entry.failures = entry.failures.filter((t) => now - t < this.windowMs);
    entry.failures.push(now);
    if (entry.failures.length >= this.maxFailures) {
      entry.blockedUntilMs = now + this.blockMs;
      entry.failures = [];
    }
    this.#entries.set(address, entry);
  }

  /** Forgets an address's failures after a correct password. */
  recordSuccess(address: string): void {
    this.#entries.delete(address);
  }

  // Entries with no recent failure and no block are dropped, bounding memory under a spray.
  #prune(now: number): void {
    for (const [address, e] of this.#entries) {
      const recent = e.failures.some((t) => now - t < this.windowMs);
      if (!recent && e.blockedUntilMs <= now) this.#entries.delete(address);
    }
  }
}
