/**
 * Readiness: the database answers and its schema is current (required); Ollama answers
 * (reported, not required: quota admin and key checks work without it, and a gateway that
 * reports "not ready" whenever the GPU box restarts would be taken out of rotation for nothing).
 *
 * Answers are public (both listeners, no key), so they carry short reasons only: no URL, host,
 * path or error text. The full reason is logged when readiness changes.
 * @module
 */
import type { Deps } from "../deps.ts";
import { ollamaVersion } from "../core/ollama.ts";

/** How long each check may take before it counts as failed. */
export const CHECK_TIMEOUT_MS = 2000;
/** How long one result is reused, so frequent probes cost one check per second at most. */
const REUSE_MS = 1000;

/** The database part of a readiness answer. */
export interface DatabaseCheck {
  ok: boolean;
  dialect: "sqlite" | "postgres";
  latency_ms?: number;
  /** `current`, or how many migrations are pending. */
  migrations?: string;
  /** `unavailable`: the query failed (server down, connection lost, database error). */
  error?: "unavailable" | "timeout" | "migrations_pending";
}

/** The Ollama part of a readiness answer. */
export interface OllamaCheck {
  ok: boolean;
  required: false;
  version?: string;
  error?: "unreachable" | "timeout";
}

/** A readiness answer. */
export interface Readiness {
  status: "ready" | "not_ready";
  database: DatabaseCheck;
  ollama: OllamaCheck;
}

class Timeout extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Checks readiness for one listener, reusing a fresh result and joining a running check. */
export class ReadinessProbe {
  #deps: Deps;
  #last: { at: number; result: Readiness } | null = null;
  #running: Promise<Readiness> | null = null;
  #wasReady: boolean | null = null;

  constructor(deps: Deps) {
    this.#deps = deps;
  }

  /** The current readiness. */
  check(): Promise<Readiness> {
    if (this.#last && performance.now() - this.#last.at < REUSE_MS) {
      return Promise.resolve(this.#last.result);
    }
    return this.#running ??= this.#run().finally(() => this.#running = null);
  }

  async #run(): Promise<Readiness> {
    const reasons: string[] = [];
    const [database, ollama] = await Promise.all([
      this.#database(reasons),
      this.#ollama(reasons),
    ]);
    const result: Readiness = { status: database.ok ? "ready" : "not_ready", database, ollama };
    this.#last = { at: performance.now(), result };
    this.#logChange(database.ok, reasons);
    return result;
  }

  async #database(reasons: string[]): Promise<DatabaseCheck> {
    const store = this.#deps.store;
    const started = performance.now();
    try {
      const pending = await withTimeout(store.pendingMigrations(), CHECK_TIMEOUT_MS);
      const latency_ms = Math.round(performance.now() - started);
      if (pending.length > 0) {
        reasons.push(`database migrations pending: ${pending.join(", ")}`);
        return {
          ok: false,
          dialect: store.dialect,
          latency_ms,
          migrations: `${pending.length} pending`,
          error: "migrations_pending",
        };
      }
      return { ok: true, dialect: store.dialect, latency_ms, migrations: "current" };
    } catch (err) {
      const timedOut = err instanceof Timeout;
      reasons.push(
        timedOut
          ? `database did not answer within ${CHECK_TIMEOUT_MS} ms`
          : `database: ${(err as Error).message}`,
      );
      return { ok: false, dialect: store.dialect, error: timedOut ? "timeout" : "unavailable" };
    }
  }

  async #ollama(reasons: string[]): Promise<OllamaCheck> {
    // The stored setting is the URL requests use; the start-up value stands in when the
    // database cannot be asked.
    const url = await this.#deps.settings.get().then(
      (s) => s.ollama_url,
      () => this.#deps.config.ollamaUrl,
    );
    try {
      const version = await ollamaVersion(url, CHECK_TIMEOUT_MS);
      return { ok: true, required: false, version };
    } catch (err) {
      const message = (err as Error).message;
      reasons.push(message);
      return {
        ok: false,
        required: false,
        error: /no answer within/.test(message) ? "timeout" : "unreachable",
      };
    }
  }

  #logChange(ready: boolean, reasons: string[]): void {
    if (this.#wasReady === ready) return;
    const first = this.#wasReady === null;
    this.#wasReady = ready;
    if (!ready) this.#deps.log.warn("not ready", { reasons });
    else if (!first) this.#deps.log.info("ready again", {});
  }
}

const probes = new WeakMap<Deps, ReadinessProbe>();

/** The one readiness probe of a gateway, shared by both listeners (one cache, one log). */
export function readinessProbeOf(deps: Deps): ReadinessProbe {
  let probe = probes.get(deps);
  if (!probe) probes.set(deps, probe = new ReadinessProbe(deps));
  return probe;
}
