/**
 * Requests in flight, so shutdown can abort what is still running after the grace period.
 * @module
 */

/** Why an in-flight request was aborted by the gateway itself. */
export class GatewayStopping extends Error {
  constructor() {
    super("gateway shutting down");
  }
}

/** A registry of abort functions of running upstream requests. */
export class InFlight {
  #aborts = new Set<() => void>();

  /** Registers an abort function; returns the function that unregisters it. */
  add(abort: () => void): () => void {
    this.#aborts.add(abort);
    return () => this.#aborts.delete(abort);
  }

  /** How many requests are running. */
  get size(): number {
    return this.#aborts.size;
  }

  /** Aborts every running request. */
  abortAll(): void {
    for (const abort of [...this.#aborts]) abort();
  }
}
