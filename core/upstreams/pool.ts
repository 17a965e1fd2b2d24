/**
 * The pool of Ollama boxes behind the gateway: which box a request goes to (core/upstreams/
 * select.ts), the leases that count requests in flight per box, the fair queue for requests that
 * find every eligible box full, and what each attempt and probe teaches about a box (health.ts,
 * catalog.ts). Pure logic: time comes from an injected scheduler, randomness from an injected
 * source, the box list from a function and the in-flight counts from a ledger, so a table, an
 * admin API and a ledger shared by every instance can plug in without changing this file.
 *
 * A pool of one box passes everything through (by default): it takes every request whatever its
 * tags, health or saturation say, as a gateway with one Ollama always did.
 * @module
 */
import { pinKey, StickyPins } from "./sticky.ts";
import { FairQueue } from "./fair_queue.ts";
import { BoxCatalog, type LoadedModel } from "./catalog.ts";
import { BoxHealth, type HealthState, Saturation } from "./health.ts";
import { type BoxView, type Choice, chooseBox, type StickyUse } from "./select.ts";
import { LocalSlots, type SlotLedger } from "./slots.ts";
import { realScheduler, type Scheduler } from "./scheduler.ts";
import type { UpstreamConfig, Verdict } from "./types.ts";

/** Requests that may wait for a box at most (QUEUE_MAX). */
export const DEFAULT_QUEUE_MAX = 256;
/** How long a request waits for a box at most (QUEUE_TIMEOUT_SECONDS), in ms. */
export const DEFAULT_QUEUE_TIMEOUT_MS = 60_000;
/** The Retry-After of a request that found every box busy (seconds). */
export const BUSY_RETRY_AFTER_SECONDS = 5;

/** What the pool reports as it works (metrics, tests); every method is optional. */
export interface PoolObserver {
  /** The requests in flight on a box changed. */
  inFlight?(box: UpstreamConfig, count: number): void;
  /** The number of waiting requests changed. */
  queueDepth?(depth: number): void;
  /** A request got its box after waiting `ms` (0: at once). */
  placed?(box: UpstreamConfig, ms: number): void;
  /** An attempt ended with `verdict`. */
  attempt?(box: UpstreamConfig, verdict: Verdict): void;
  /** A box was ejected for `ms`. */
  ejected?(box: UpstreamConfig, ms: number): void;
  /** A box said busy; its capacity is now `capacity`. */
  saturated?(box: UpstreamConfig, capacity: number): void;
}

/** How a pool is built. */
export interface PoolOptions {
  /** The boxes, read before each placement and each probe round (cheap: cached by the caller). */
  source: () => ReadonlyArray<UpstreamConfig> | Promise<ReadonlyArray<UpstreamConfig>>;
  /** Where in-flight requests are counted (default: this process). */
  ledger?: SlotLedger;
  scheduler?: Scheduler;
  /** A number in [0, 1), for ties (default Math.random). */
  random?: () => number;
  queueMax?: number;
  queueTimeoutMs?: number;
  /** Whether one box alone takes everything, unjudged (default true). */
  passThroughSingle?: boolean;
  observer?: PoolObserver;
  /**
   * A failure the pool works around: the box list could not be read (the last one read stays in
   * use), or the ledger could not grant a slot (the request waits).
   */
  onError?: (err: unknown) => void;
}

/** What a request asks the pool for. */
export interface Want {
  model: string;
  /** The context the request runs with, when known (`options.num_ctx` on native routes). */
  numCtx: number | null;
  /** The key: pins and the queue's turns are per key. */
  key: string;
  /** The conversation (X-OpenWebUI-Chat-Id, X-Session-Id), or null. */
  conversation: string | null;
  /** Boxes already tried for this request. */
  exclude?: ReadonlySet<string>;
  /** A retry waits at the front of its key's line: it had its turn already. */
  retry?: boolean;
  /** Aborted when the client leaves (or the gateway stops): it leaves the queue at once. */
  signal?: AbortSignal;
}

/** The pool's answer to a request. */
export type Placement =
  | { kind: "leased"; lease: Lease }
  /** Every eligible box is full and the queue is full, or no slot came free in time. */
  | { kind: "busy"; reason: "queue_full" | "queue_timeout"; retryAfterSeconds: number }
  /** Every box that lists the model is ejected. */
  | { kind: "down"; retryAfterSeconds: number }
  /** No box lists the model. */
  | { kind: "unknown_model" }
  /** Every eligible box was tried for this request. */
  | { kind: "exhausted" }
  /** No box is configured (or enabled). */
  | { kind: "no_upstreams" }
  /** The request's signal fired while it waited. */
  | { kind: "aborted"; reason: unknown };

/**
 * One request's slot on one box. Released exactly once (later calls do nothing): the slot is
 * given back and the verdict is recorded, so in-flight counts can neither drift nor go negative.
 */
export interface Lease {
  readonly upstream: UpstreamConfig;
  /** How long the request waited for the box (ms). */
  readonly queuedMs: number;
  /** How the conversation's pin was used; null without a conversation (or with one box). */
  readonly sticky: StickyUse;
  /** Whether the box listed the model when it was chosen (null: its tags were unknown). */
  readonly listed: boolean | null;
  /** Records what the attempt said about the box and gives its slot back. */
  release(verdict: Verdict): void;
}

/** The probes the pool learns from. */
export type ProbeKind = "version" | "tags" | "ps";
/** Every probe kind. */
export const PROBE_KINDS: ReadonlyArray<ProbeKind> = ["version", "tags", "ps"];
/** A probe's answer: the parsed JSON, or why there was none. */
export type ProbeResult = { ok: true; json: unknown } | { ok: false; error: string };
/** A box to probe (its generation tells a probe of a box since changed). */
export interface ProbeTarget {
  upstream: UpstreamConfig;
  generation: number;
}

/** One box as the admin sees it. */
export interface UpstreamStatus {
  id: string;
  name: string;
  enabled: boolean;
  state: HealthState;
  /** How long it stays ejected (ms), or null. */
  ejectedForMs: number | null;
  failures: number;
  ejections: number;
  /** Its lowered capacity after a "server busy", or null when not saturated. */
  saturatedTo: number | null;
  maxInFlight: number | null;
  inFlight: number;
  /** Listed models; null until its tags were read. */
  models: string[] | null;
  loaded: LoadedModel[];
  version: string | null;
  /** The last probe error, or null. */
  error: string | null;
}

/** A box and what is known about it; replaced (new generation) when its URL or token change. */
class Box {
  readonly health = new BoxHealth();
  readonly saturation = new Saturation();
  readonly catalog = new BoxCatalog();
  version: string | null = null;
  error: string | null = null;
  constructor(public config: UpstreamConfig, readonly generation: number) {}
}

interface Waiter {
  want: Want;
  at: number;
  state: "queued" | "placing" | "done";
  /** Set when it timed out or its client left while its slot was being taken. */
  cancelled: Placement | null;
  finish(p: Placement): void;
}

/** The lease the pool hands out. */
class PoolLease implements Lease {
  #end: ((verdict: Verdict) => void) | null;
  constructor(
    readonly upstream: UpstreamConfig,
    readonly queuedMs: number,
    readonly sticky: StickyUse,
    readonly listed: boolean | null,
    end: (verdict: Verdict) => void,
  ) {
    this.#end = end;
  }
  release(verdict: Verdict): void {
    const end = this.#end;
    this.#end = null;
    end?.(verdict);
  }
}

/** The boxes, their leases and the queue. */
export class UpstreamPool {
  readonly #source: PoolOptions["source"];
  readonly #ledger: SlotLedger;
  readonly #sched: Scheduler;
  readonly #random: () => number;
  readonly #queueMax: number;
  readonly #queueTimeoutMs: number;
  readonly #passThroughSingle: boolean;
  readonly #observer: PoolObserver;
  readonly #onError: (err: unknown) => void;
  #boxes = new Map<string, Box>();
  #order: string[] = [];
  #lastConfigs: ReadonlyArray<UpstreamConfig> | null = null;
  #generation = 0;
  #queue = new FairQueue<Waiter>();
  #pins = new StickyPins();
  #dispatching = false;
  #again = false;
  #probeWanted: ((target: ProbeTarget, kinds: ReadonlyArray<ProbeKind>) => void) | null = null;

  constructor(options: PoolOptions) {
    this.#source = options.source;
    this.#ledger = options.ledger ?? new LocalSlots();
    this.#sched = options.scheduler ?? realScheduler;
    this.#random = options.random ?? Math.random;
    this.#queueMax = options.queueMax ?? DEFAULT_QUEUE_MAX;
    this.#queueTimeoutMs = options.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS;
    this.#passThroughSingle = options.passThroughSingle ?? true;
    this.#observer = options.observer ?? {};
    this.#onError = options.onError ?? (() => {});
  }

  /** Whether boxes are chosen and judged (several boxes), rather than one taking everything. */
  get routing(): boolean {
    return this.#boxes.size > 1 || !this.#passThroughSingle;
  }

  /** Requests waiting for a box. */
  get queueDepth(): number {
    return this.#queue.size;
  }

  /** Reads the box list again and takes in what changed (new boxes are probed at once). */
  async sync(): Promise<void> {
    let configs: ReadonlyArray<UpstreamConfig>;
    try {
      configs = await this.#source();
    } catch (err) {
      this.#onError(err);
      return;
    }
    this.#reconcile(configs);
  }

  /** Finds a box for `want` (waiting in the queue when all are full) and leases a slot on it. */
  async acquire(want: Want): Promise<Placement> {
    await this.sync();
    const at = this.#sched.now();
    if (want.signal?.aborted) return { kind: "aborted", reason: want.signal.reason };
    // With nobody waiting a request goes straight to a box; otherwise it queues behind them.
    if (this.#queue.size === 0) {
      const choice = this.#choose(want);
      if (choice.kind === "box") {
        const lease = await this.#take(choice.id, choice.sticky, want, at);
        if (lease) return { kind: "leased", lease };
      } else if (choice.kind !== "full") {
        return this.#terminal(choice);
      }
    }
    return this.#enqueue(want, at);
  }

  /** Boxes to ask for a read-only answer, best first (those listing `model` first). */
  readTargets(model: string | null): UpstreamConfig[] {
    const boxes = this.#order.map((id) => this.#boxes.get(id)!);
    if (!this.routing) return boxes.slice(0, 1).map((b) => b.config);
    const now = this.#sched.now();
    const open = boxes.filter((b) => b.config.enabled && b.health.state(now) !== "ejected");
    if (model === null) return open.map((b) => b.config);
    // Those that list it, then those whose tags are unknown, then the rest (to answer 404).
    const rank = (b: Box) => {
      const lists = b.catalog.lists(model);
      return lists === true ? 0 : lists === null ? 1 : 2;
    };
    return open.sort((a, b) => rank(a) - rank(b)).map((b) => b.config);
  }

  /** Takes an `/api/tags` answer read for a client: the box's tags are fresh. */
  recordTags(id: string, json: unknown): void {
    if (this.#boxes.get(id)?.catalog.setTags(json)) this.#dispatch();
  }

  /** The boxes to probe now: every enabled one while routing, none for a lone box. */
  probeTargets(): ProbeTarget[] {
    if (!this.routing) return [];
    return this.#order.map((id) => this.#boxes.get(id)!).filter((b) => b.config.enabled)
      .map((b) => ({ upstream: b.config, generation: b.generation }));
  }

  /** Calls `fn` when a box must be probed at once (added, changed, re-enabled, stale tags). */
  onProbeWanted(fn: (target: ProbeTarget, kinds: ReadonlyArray<ProbeKind>) => void): void {
    this.#probeWanted = fn;
  }

  /**
   * Takes a probe's answer. A failed `/api/version` is a failure of the box (three in a row
   * eject it); failed tags or ps probes keep what was known.
   */
  recordProbe(target: ProbeTarget, kind: ProbeKind, result: ProbeResult): void {
    const box = this.#boxes.get(target.upstream.id);
    if (!box || box.generation !== target.generation) return;
    if (!result.ok) {
      box.error = `${kind}: ${result.error}`;
      if (kind === "version" && this.routing) this.#failed(box);
      return;
    }
    box.error = null;
    const json = result.json as Record<string, unknown> | null;
    if (kind === "version") {
      box.version = typeof json?.version === "string" ? json.version : null;
    } else if (kind === "tags") {
      box.catalog.setTags(json);
    } else {
      box.catalog.setLoaded(json);
    }
    this.#dispatch();
  }

  /** Tries again to place waiting requests (time passed: a rested box takes one again). */
  kick(): void {
    this.#dispatch();
  }

  /** Every box as the admin sees it, in configured order. */
  status(): UpstreamStatus[] {
    const now = this.#sched.now();
    return this.#order.map((id) => {
      const box = this.#boxes.get(id)!;
      const until = box.health.ejectedUntil(now);
      return {
        id,
        name: box.config.name,
        enabled: box.config.enabled,
        state: box.health.state(now),
        ejectedForMs: until === null ? null : until - now,
        failures: box.health.failures,
        ejections: box.health.ejections,
        saturatedTo: box.saturation.limit(now),
        maxInFlight: box.config.maxInFlight,
        inFlight: this.#ledger.inFlight(id),
        models: box.catalog.models,
        loaded: box.catalog.loadedModels,
        version: box.version,
        error: box.error,
      };
    });
  }

  #reconcile(configs: ReadonlyArray<UpstreamConfig>): void {
    if (configs === this.#lastConfigs) return;
    this.#lastConfigs = configs;
    const wasRouting = this.routing;
    const changed: Box[] = [];
    const ids = new Set<string>();
    for (const config of configs) {
      if (ids.has(config.id)) continue;
      ids.add(config.id);
      const box = this.#boxes.get(config.id);
      const fresh = !box || box.config.url !== config.url || box.config.token !== config.token ||
        (!box.config.enabled && config.enabled);
      if (fresh) {
        // What was learned about another address (or before it was disabled) no longer holds.
        const created = new Box(config, ++this.#generation);
        this.#boxes.set(config.id, created);
        changed.push(created);
      } else {
        box.config = config;
      }
    }
    for (const id of [...this.#boxes.keys()]) if (!ids.has(id)) this.#boxes.delete(id);
    this.#order = [...ids];
    if (this.routing) {
      const probe = wasRouting ? changed : [...this.#boxes.values()];
      for (const box of probe) {
        if (box.config.enabled) {
          this.#probeWanted?.({ upstream: box.config, generation: box.generation }, PROBE_KINDS);
        }
      }
    }
    this.#dispatch();
  }

  /** The effective capacity of a box: max_in_flight, lowered while saturated; null: no limit. */
  #capacity(box: Box, now: number): number | null {
    const saturated = box.saturation.limit(now);
    const max = box.config.maxInFlight;
    if (saturated === null) return max;
    return max === null ? saturated : Math.min(max, saturated);
  }

  #view(box: Box, model: string, now: number): BoxView {
    const state = box.health.state(now);
    const inFlight = this.#ledger.inFlight(box.config.id);
    let capacity = this.#capacity(box, now);
    if (state === "trial") {
      // A box on trial takes one request, the trial, whatever ran on it before.
      const trial = box.health.trialTaken(now) ? inFlight : inFlight + 1;
      capacity = capacity === null ? trial : Math.min(capacity, trial);
    }
    const loaded = box.catalog.loaded(model);
    return {
      id: box.config.id,
      enabled: box.config.enabled,
      open: state !== "ejected",
      ejectedUntil: box.health.ejectedUntil(now),
      lists: box.catalog.lists(model),
      loadedContext: loaded === null ? undefined : loaded.contextLength,
      inFlight,
      capacity,
    };
  }

  #choose(want: Want): Choice {
    const exclude = want.exclude ?? new Set<string>();
    if (!this.routing) {
      // One box takes everything, as a gateway in front of one Ollama always did.
      const box = this.#boxes.get(this.#order[0] ?? "");
      if (!box || !box.config.enabled) return { kind: "none" };
      if (exclude.has(box.config.id)) return { kind: "exhausted" };
      const max = box.config.maxInFlight;
      if (max !== null && this.#ledger.inFlight(box.config.id) >= max) return { kind: "full" };
      return { kind: "box", id: box.config.id, sticky: null };
    }
    const now = this.#sched.now();
    const pin = pinKey(want.key, want.model, want.conversation);
    const views = this.#order.map((id) => this.#view(this.#boxes.get(id)!, want.model, now));
    const pinned = pin === null ? null : this.#pins.get(pin, now);
    const choice = chooseBox(views, { numCtx: want.numCtx, pinned, exclude }, this.#random);
    return choice.kind === "box" && pin === null ? { ...choice, sticky: null } : choice;
  }

  #terminal(choice: Exclude<Choice, { kind: "box" } | { kind: "full" }>): Placement {
    switch (choice.kind) {
      case "down":
        return {
          kind: "down",
          retryAfterSeconds: Math.max(1, Math.ceil((choice.until - this.#sched.now()) / 1000)),
        };
      case "unknown_model":
        return { kind: "unknown_model" };
      case "exhausted":
        return { kind: "exhausted" };
      case "none":
        return { kind: "no_upstreams" };
    }
  }

  /** Takes a slot on box `id` for `want`; null when the ledger had none left. */
  async #take(id: string, sticky: StickyUse, want: Want, at: number): Promise<Lease | null> {
    const box = this.#boxes.get(id)!;
    const now = this.#sched.now();
    const routing = this.routing;
    // Both are decided before any await, so two requests cannot both take the last slot or
    // the one trial of this process.
    const trial = routing && box.health.takeTrial(now);
    const limit = routing ? this.#capacity(box, now) : box.config.maxInFlight;
    const listed = box.catalog.lists(want.model);
    let taken: boolean;
    try {
      taken = await this.#ledger.take(id, limit);
    } catch (err) {
      // A shared ledger that cannot answer grants nothing: the request waits (or times out).
      this.#onError(err);
      taken = false;
    }
    if (!taken) {
      if (trial) box.health.returnTrial();
      return null;
    }
    const pin = routing ? pinKey(want.key, want.model, want.conversation) : null;
    if (pin !== null) this.#pins.set(pin, id, now);
    const config = box.config;
    const generation = box.generation;
    const queuedMs = this.#sched.now() - at;
    this.#observer.inFlight?.(config, this.#ledger.inFlight(id));
    this.#observer.placed?.(config, queuedMs);
    return new PoolLease(
      config,
      queuedMs,
      sticky,
      listed,
      (verdict) => this.#released(config, generation, want.model, trial, verdict),
    );
  }

  #released(
    config: UpstreamConfig,
    generation: number,
    model: string,
    trial: boolean,
    verdict: Verdict,
  ): void {
    try {
      const box = this.#boxes.get(config.id);
      // A verdict about a box since changed or removed says nothing about what is there now.
      if (box && box.generation === generation && this.routing) {
        this.#judge(box, model, trial, verdict);
      }
    } finally {
      this.#ledger.give(config.id);
      this.#observer.inFlight?.(config, this.#ledger.inFlight(config.id));
      this.#observer.attempt?.(config, verdict);
      this.#dispatch();
    }
  }

  #judge(box: Box, model: string, trial: boolean, verdict: Verdict): void {
    const now = this.#sched.now();
    switch (verdict) {
      case "ok":
        box.health.succeeded(now);
        box.saturation.succeeded(box.config.maxInFlight);
        return;
      case "failed":
        this.#failed(box);
        return;
      case "busy": {
        // Busy is alive: it ends a trial well, and lowers the capacity instead of ejecting.
        box.health.succeeded(now);
        box.saturation.busy(now, this.#ledger.inFlight(box.config.id), box.config.maxInFlight);
        this.#observer.saturated?.(box.config, box.saturation.limit(now) ?? 0);
        return;
      }
      case "model_missing":
        box.health.succeeded(now);
        box.catalog.forget(model);
        this.#probeWanted?.({ upstream: box.config, generation: box.generation }, ["tags"]);
        return;
      case "neutral":
        if (trial) box.health.returnTrial();
        return;
    }
  }

  #failed(box: Box): void {
    const now = this.#sched.now();
    if (box.health.failed(now)) {
      this.#observer.ejected?.(box.config, (box.health.ejectedUntil(now) ?? now) - now);
    }
  }

  #enqueue(want: Want, at: number): Promise<Placement> {
    if (this.#queue.size >= this.#queueMax) {
      return Promise.resolve({
        kind: "busy",
        reason: "queue_full",
        retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
      });
    }
    return new Promise<Placement>((resolve) => {
      const cancel = (p: Placement) => {
        if (waiter.state === "queued") {
          this.#queue.remove(want.key, waiter);
          waiter.finish(p);
        } else if (waiter.state === "placing") {
          waiter.cancelled ??= p;
        }
      };
      const onAbort = () => cancel({ kind: "aborted", reason: want.signal!.reason });
      const cancelTimer = this.#sched.after(this.#queueTimeoutMs, () =>
        cancel({
          kind: "busy",
          reason: "queue_timeout",
          retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
        }));
      const waiter: Waiter = {
        want,
        at,
        state: "queued",
        cancelled: null,
        finish: (p) => {
          if (waiter.state === "done") return;
          waiter.state = "done";
          cancelTimer();
          want.signal?.removeEventListener("abort", onAbort);
          this.#observer.queueDepth?.(this.#queue.size);
          resolve(p);
        },
      };
      want.signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(want.key, waiter, want.retry === true);
      this.#observer.queueDepth?.(this.#queue.size);
      this.#dispatch();
    });
  }

  /** Places waiting requests while boxes have room; one pass at a time. */
  #dispatch(): void {
    if (this.#dispatching) {
      this.#again = true;
      return;
    }
    if (this.#queue.size === 0) return;
    this.#dispatching = true;
    this.#drain().catch(this.#onError).finally(() => {
      this.#dispatching = false;
    });
  }

  async #drain(): Promise<void> {
    do {
      this.#again = false;
      for (;;) {
        let choice: Choice | null = null;
        const waiter = this.#queue.serve((w) => {
          const c = this.#choose(w.want);
          if (c.kind === "full") return false;
          choice = c;
          return true;
        });
        if (waiter === null) break;
        const c = choice! as Choice;
        if (c.kind !== "box") {
          waiter.finish(this.#terminal(c as Exclude<Choice, { kind: "box" } | { kind: "full" }>));
          continue;
        }
        waiter.state = "placing";
        const lease = await this.#take(c.id, c.sticky, waiter.want, waiter.at);
        if (waiter.cancelled) {
          lease?.release("neutral");
          waiter.finish(waiter.cancelled);
          continue;
        }
        if (lease === null) {
          // Another instance took the slot first: wait for the next change.
          waiter.state = "queued";
          this.#queue.push(waiter.want.key, waiter, true);
          break;
        }
        waiter.finish({ kind: "leased", lease });
      }
    } while (this.#again);
  }
}
