/**
 * Readiness: the database answers and its schema is current (required); Ollama answers, each
 * box on its own and by its id (reported, not required: quota admin and key checks work without it, and a gateway that
 * reports "not ready" whenever the GPU box restarts would be taken out of rotation for nothing).
 *
 * Answers are public (both listeners, no key), so they carry short reasons only: no URL, host,
 * path or error text. The full reason is logged when readiness changes.
 * @module
 */
import type { Deps } from "../deps.ts";
import { ollamaVersion } from "../core/ollama.ts";
import { upstreamUrls } from "../core/upstreams/setting.ts";
import type { UpstreamConfig } from "../core/upstreams/types.ts";
import { upstreamTableOf } from "./upstreams.ts";

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

/** One Ollama box in a readiness answer: by its id on the admin's Ollama boxes page. */
export interface UpstreamCheck {
  /** The box's id (null: the database could not be read, so this is OLLAMA_URL's box). */
  id: number | null;
  enabled: boolean;
  ok: boolean;
  version?: string;
  error?: "unreachable" | "timeout" | "disabled";
}

/** The Ollama part of a readiness answer: ok when any enabled box answers. */
export interface OllamaCheck {
  ok: boolean;
  required: false;
  /** The first box that answered. */
  version?: string;
  error?: "unreachable" | "timeout" | "no_upstreams";
  upstreams: UpstreamCheck[];
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
    // The boxes requests use; those of OLLAMA_URL stand in when the database cannot be asked.
    const boxes: ReadonlyArray<UpstreamConfig> = await upstreamTableOf(this.#deps).configs().then(
      (c) => c,
      () =>
        upstreamUrls(this.#deps.config.ollamaUrl).map((url) => ({
          id: "",
          name: "",
          url,
          token: null,
          enabled: true,
          maxInFlight: null,
        })),
    );
    const upstreams = await Promise.all(boxes.map((box) => this.#box(box, reasons)));
    const answered = upstreams.find((u) => u.ok);
    if (answered) return { ok: true, required: false, version: answered.version, upstreams };
    const failed = upstreams.find((u) => u.enabled);
    if (!failed) reasons.push("no Ollama box is configured (or enabled)");
    return {
      ok: false,
      required: false,
      error: failed?.error === "timeout" ? "timeout" : failed ? "unreachable" : "no_upstreams",
      upstreams,
    };
  }

  async #box(box: UpstreamConfig, reasons: string[]): Promise<UpstreamCheck> {
    const id = /^\d+$/.test(box.id) ? Number(box.id) : null;
    if (!box.enabled) return { id, enabled: false, ok: false, error: "disabled" };
    try {
      const version = await ollamaVersion(box.url, CHECK_TIMEOUT_MS, box.token);
      return { id, enabled: true, ok: true, version };
    } catch (err) {
      const message = (err as Error).message;
      reasons.push(message);
      return {
        id,
        enabled: true,
        ok: false,
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
