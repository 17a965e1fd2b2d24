/**
 * Probes the pool's boxes: `GET /api/version` every 10 s (is it alive: a failure counts toward
 * ejection), `/api/tags` every 60 s (which models it has), `/api/ps` every 5 s (which are
 * loaded, with which context). Never a generation, which would load a model. A box that is
 * added, changed or re-enabled is probed at once, and so are the tags of a box that said it has
 * no model it listed. Timers never keep the process alive; `stop()` ends every probe.
 * @module
 */
import type { ProbeKind, ProbeResult, ProbeTarget, UpstreamPool } from "../core/upstreams/pool.ts";
import { PROBE_KINDS } from "../core/upstreams/pool.ts";
import { realScheduler, type Scheduler } from "../core/upstreams/scheduler.ts";
import { fetchFailureDetail } from "../core/fetch_failure.ts";

/** How often each probe runs (ms). */
export const PROBE_INTERVALS_MS: Readonly<Record<ProbeKind, number>> = {
  version: 10_000,
  tags: 60_000,
  ps: 5_000,
};
/** How long a probe waits for its answer (ms). */
export const PROBE_TIMEOUT_MS = 5_000;

const PATHS: Readonly<Record<ProbeKind, string>> = {
  version: "/api/version",
  tags: "/api/tags",
  ps: "/api/ps",
};

/** How a prober is built; tests inject fetch and time. */
export interface ProberOptions {
  fetch?: typeof fetch;
  scheduler?: Scheduler;
  timeoutMs?: number;
}

class ProbeTimeout extends Error {}

/** Probes the boxes of one pool on their intervals. */
export class UpstreamProber {
  readonly #pool: UpstreamPool;
  readonly #fetch: typeof fetch;
  readonly #sched: Scheduler;
  readonly #timeoutMs: number;
  /** Per box: its generation and when each probe is due next. */
  #due = new Map<string, { generation: number; at: Record<ProbeKind, number> }>();
  #running = new Map<string, Promise<void>>();
  #ticking: Promise<void> | null = null;
  #cancelTimer: (() => void) | null = null;
  #timerAt = Infinity;
  #stopped = false;
  readonly #stop = new AbortController();

  constructor(pool: UpstreamPool, options: ProberOptions = {}) {
    this.#pool = pool;
    this.#fetch = options.fetch ?? fetch;
    this.#sched = options.scheduler ?? realScheduler;
    this.#timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  }

  /** Starts probing: every box at once, then on its intervals. */
  start(): void {
    this.#pool.onProbeWanted((target, kinds) => this.probeNow(target, kinds));
    this.#tick();
  }

  /** Probes `target` now (the given kinds), whatever its schedule. */
  probeNow(target: ProbeTarget, kinds: ReadonlyArray<ProbeKind> = PROBE_KINDS): void {
    if (this.#stopped) return;
    for (const kind of kinds) this.#launch(target, kind, this.#sched.now());
    this.#schedule();
  }

  /** Resolves once no probe and no round is running (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#ticking || this.#running.size > 0) {
      await Promise.allSettled([this.#ticking, ...this.#running.values()]);
    }
  }

  /** Stops probing: cancels the timer, aborts running probes and waits for them to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    this.#stop.abort();
    await this.idle();
  }

  /** One round: reads the box list again, runs the probes that are due, sets the next timer. */
  #tick(): void {
    if (this.#stopped || this.#ticking) return;
    this.#cancelTimer = null;
    this.#timerAt = Infinity;
    this.#ticking = (async () => {
      await this.#pool.sync();
      if (this.#stopped) return;
      // Time passed: a box that rested after saturation may take a waiting request again.
      this.#pool.kick();
      const now = this.#sched.now();
      const targets = this.#pool.probeTargets();
      const live = new Set(targets.map((t) => t.upstream.id));
      for (const id of [...this.#due.keys()]) if (!live.has(id)) this.#due.delete(id);
      for (const target of targets) {
        const due = this.#dueOf(target);
        for (const kind of PROBE_KINDS) if (due.at[kind] <= now) this.#launch(target, kind, now);
      }
    })().catch(() => {
      // Nothing in a round throws (the pool keeps its last box list); no round may stop the next.
    }).finally(() => {
      this.#ticking = null;
      this.#schedule();
    });
  }

  #dueOf(target: ProbeTarget) {
    let due = this.#due.get(target.upstream.id);
    if (!due || due.generation !== target.generation) {
      due = {
        generation: target.generation,
        at: { version: -Infinity, tags: -Infinity, ps: -Infinity },
      };
      this.#due.set(target.upstream.id, due);
    }
    return due;
  }

  /** Runs one probe unless the same one still runs; either way it is due again an interval on. */
  #launch(target: ProbeTarget, kind: ProbeKind, now: number): void {
    this.#dueOf(target).at[kind] = now + PROBE_INTERVALS_MS[kind];
    const key = `${target.upstream.id}\u0000${kind}`;
    if (this.#running.has(key)) return;
    const probe = this.#probe(target, kind).finally(() => this.#running.delete(key));
    this.#running.set(key, probe);
  }

  #schedule(): void {
    if (this.#stopped || this.#ticking) return;
    let next = Infinity;
    for (const due of this.#due.values()) next = Math.min(next, ...Object.values(due.at));
    // Nothing to probe (a lone box): the pool says when boxes are added.
    if (next === Infinity) return;
    if (this.#cancelTimer && this.#timerAt <= next) return;
    this.#cancelTimer?.();
    this.#timerAt = next;
    this.#cancelTimer = this.#sched.after(
      Math.max(0, next - this.#sched.now()),
      () => this.#tick(),
    );
  }

  async #probe(target: ProbeTarget, kind: ProbeKind): Promise<void> {
    const controller = new AbortController();
    const stop = () => controller.abort();
    this.#stop.signal.addEventListener("abort", stop, { once: true });
    const cancelTimeout = this.#sched.after(
      this.#timeoutMs,
      () => controller.abort(new ProbeTimeout()),
    );
    const { url, token } = target.upstream;
    let result: ProbeResult;
    try {
      const res = await this.#fetch(url + PATHS[kind], {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        signal: controller.signal,
      });
      if (res.ok) {
        result = { ok: true, json: await res.json() };
      } else {
        await res.body?.cancel();
        result = { ok: false, error: `answered ${res.status}` };
      }
    } catch (err) {
      result = {
        ok: false,
        error: controller.signal.reason instanceof ProbeTimeout
          ? `no answer within ${this.#timeoutMs} ms`
          : fetchFailureDetail(err),
      };
    } finally {
      cancelTimeout();
      this.#stop.signal.removeEventListener("abort", stop);
    }
    if (!this.#stopped) this.#pool.recordProbe(target, kind, result);
  }
}
