import assert from "node:assert/strict";
import {
  type Lease,
  type Placement,
  type PoolObserver,
  UpstreamPool,
  type Want,
} from "../../core/upstreams/pool.ts";
import { LocalSlots, type SlotLedger } from "../../core/upstreams/slots.ts";
import type { UpstreamConfig } from "../../core/upstreams/types.ts";
import {
  FIRST_EJECTION_MS,
  MAX_EJECTION_MS,
  SATURATION_REST_MS,
} from "../../core/upstreams/health.ts";
import { ManualScheduler, seededRandom, settle } from "../support/manual_scheduler.ts";

const box = (id: string, over: Partial<UpstreamConfig> = {}): UpstreamConfig => ({
  id,
  name: id,
  url: `http://${id}:11434`,
  token: null,
  enabled: true,
  maxInFlight: 1,
  ...over,
});

/** A pool over `boxes` with hand-moved time; `counts` tracks every in-flight change per box. */
async function poolOver(
  boxes: UpstreamConfig[],
  options: {
    random?: () => number;
    queueMax?: number;
    queueTimeoutMs?: number;
    ledger?: SlotLedger;
  } = {},
) {
  const sched = new ManualScheduler();
  let list = boxes;
  const counts = new Map<string, number[]>();
  const probes: Array<[string, string[]]> = [];
  const ejections: Array<[string, number]> = [];
  const observer: PoolObserver = {
    inFlight: (b, n) => counts.set(b.id, [...counts.get(b.id) ?? [], n]),
    ejected: (b, ms) => ejections.push([b.id, ms]),
  };
  const pool = new UpstreamPool({
    source: () => list,
    scheduler: sched,
    random: options.random ?? seededRandom(7),
    queueMax: options.queueMax,
    queueTimeoutMs: options.queueTimeoutMs,
    ledger: options.ledger,
    observer,
  });
  pool.onProbeWanted((t, kinds) => probes.push([t.upstream.id, [...kinds]]));
  await pool.sync();
  /** Tells the pool what a box's probes said. */
  const teach = (id: string, what: { tags?: string[]; ps?: Array<[string, number]> }) => {
    const target = pool.probeTargets().find((t) => t.upstream.id === id)!;
    if (what.tags) {
      pool.recordProbe(target, "tags", {
        ok: true,
        json: { models: what.tags.map((name) => ({ name, model: name })) },
      });
    }
    if (what.ps) {
      pool.recordProbe(target, "ps", {
        ok: true,
        json: { models: what.ps.map(([name, ctx]) => ({ name, context_length: ctx })) },
      });
    }
  };
  const failVersion = (id: string) => {
    const target = pool.probeTargets().find((t) => t.upstream.id === id)!;
    pool.recordProbe(target, "version", { ok: false, error: "connection refused" });
  };
  return {
    pool,
    sched,
    counts,
    probes,
    ejections,
    teach,
    failVersion,
    setBoxes: (l: UpstreamConfig[]) => {
      list = l;
    },
  };
}

const want = (over: Partial<Want> = {}): Want => ({
  model: "llama3",
  numCtx: null,
  key: "k1",
  conversation: null,
  ...over,
});

function leased(p: Placement): Lease {
  assert.equal(p.kind, "leased", `expected a lease, got ${JSON.stringify(p)}`);
  return (p as { lease: Lease }).lease;
}

async function lease(pool: UpstreamPool, over: Partial<Want> = {}): Promise<Lease> {
  return leased(await pool.acquire(want(over)));
}

Deno.test("a request goes to a box that lists its model, by Ollama's name rules", async () => {
  const t = await poolOver([box("a"), box("b"), box("c")]);
  t.teach("a", { tags: ["qwen3:8b"] });
  t.teach("b", { tags: ["llama3:latest"] });
  t.teach("c", { tags: ["all-minilm:latest"] });
  const l = await lease(t.pool, { model: "registry.ollama.ai/library/LLAMA3" });
  assert.equal(l.upstream.id, "b");
  assert.equal(l.listed, true);
  l.release("ok");
  assert.equal((await lease(t.pool, { model: "qwen3:8b" })).upstream.id, "a");
});

Deno.test("a model no box lists is refused as unknown; boxes with unknown tags stand in", async () => {
  const t = await poolOver([box("a"), box("b")]);
  // Tags not read yet: the box may have it, and Ollama answers for itself.
  const early = await lease(t.pool, { model: "nope" });
  assert.equal(early.listed, null);
  early.release("neutral");
  t.teach("a", { tags: ["llama3"] });
  assert.equal((await lease(t.pool, { model: "nope" })).upstream.id, "b");
  t.teach("b", { tags: ["qwen3"] });
  assert.deepEqual(await t.pool.acquire(want({ model: "nope" })), { kind: "unknown_model" });
});

Deno.test("a box with the model loaded at a large enough context is preferred, even when busier", async () => {
  const t = await poolOver([box("a", { maxInFlight: 4 }), box("b", { maxInFlight: 4 })]);
  t.teach("a", { tags: ["llama3"] });
  t.teach("b", { tags: ["llama3"], ps: [["llama3:latest", 8192]] });
  const first = await lease(t.pool, { numCtx: 8192 });
  const second = await lease(t.pool, { numCtx: 4096 });
  assert.deepEqual([first.upstream.id, second.upstream.id], ["b", "b"]);
  // A larger context than the loaded runner's would reload it anyway: least loaded wins.
  assert.equal((await lease(t.pool, { numCtx: 16384 })).upstream.id, "a");
  // Once the loaded box is full, the others take the model.
  await lease(t.pool);
  await lease(t.pool);
  assert.equal((await lease(t.pool)).upstream.id, "a");
});

Deno.test("parallel requests spread by in-flight / max_in_flight and no box goes above its limit", async () => {
  const boxes = [
    box("a", { maxInFlight: 2 }),
    box("b", { maxInFlight: 3 }),
    box("c", { maxInFlight: 1 }),
  ];
  const t = await poolOver(boxes);
  for (const b of boxes) t.teach(b.id, { tags: ["llama3"] });
  const active = new Set<Lease>();
  let placed = 0;
  for (let i = 0; i < 40; i++) {
    t.pool.acquire(want({ key: `k${i % 5}` })).then((p) => {
      active.add(leased(p));
      placed++;
    });
  }
  await settle();
  assert.equal(active.size, 6, "the three boxes take 2 + 3 + 1 at once");
  const on = (id: string) => [...active].filter((l) => l.upstream.id === id).length;
  assert.deepEqual([on("a"), on("b"), on("c")], [2, 3, 1]);
  assert.equal(t.pool.queueDepth, 34);
  // Slots free up one at a time in a random order, some attempts failing; all are served.
  const rand = seededRandom(3);
  let released = 0;
  while (active.size > 0) {
    const l = [...active][Math.floor(rand() * active.size)];
    active.delete(l);
    l.release(rand() < 0.2 ? "failed" : "ok");
    released++;
    await settle();
  }
  assert.deepEqual([placed, released, t.pool.queueDepth], [40, 40, 0]);
  for (const b of boxes) {
    const seen = t.counts.get(b.id)!;
    assert.ok(Math.max(...seen) <= b.maxInFlight!, `${b.id} peaked at ${Math.max(...seen)}`);
    assert.ok(Math.min(...seen) >= 0);
    assert.equal(seen.at(-1), 0, `${b.id} ends with nothing in flight`);
  }
});

Deno.test("ties are broken by the random source, not by box order", async () => {
  const pick = async (r: number) => {
    const t = await poolOver([box("a"), box("b"), box("c")], { random: () => r });
    for (const id of ["a", "b", "c"]) t.teach(id, { tags: ["llama3"] });
    return (await lease(t.pool)).upstream.id;
  };
  assert.deepEqual([await pick(0), await pick(0.5), await pick(0.99)], ["a", "b", "c"]);
});

Deno.test("a conversation sticks to its box while it has room, per key, and re-pins when full", async () => {
  const boxes = [box("a", { maxInFlight: 2 }), box("b", { maxInFlight: 2 })];
  const t = await poolOver(boxes);
  for (const b of boxes) t.teach(b.id, { tags: ["llama3"] });
  const first = await lease(t.pool, { conversation: "chat-1" });
  assert.equal(first.sticky, "miss");
  // The pinned box is busier than the other, yet the conversation goes back to it.
  const again = await lease(t.pool, { conversation: "chat-1" });
  assert.equal(again.upstream.id, first.upstream.id);
  assert.equal(again.sticky, "hit");
  // Another key with the same chat id is not pinned: pins are per key.
  const other = await lease(t.pool, { key: "k2", conversation: "chat-1" });
  assert.equal(other.sticky, "miss");
  assert.notEqual(other.upstream.id, first.upstream.id, "least loaded, not the other key's pin");
  // The pinned box is full now: the conversation moves, and stays on its new box.
  const moved = await lease(t.pool, { conversation: "chat-1" });
  assert.equal(moved.sticky, "repin");
  assert.notEqual(moved.upstream.id, first.upstream.id);
  first.release("ok");
  other.release("ok");
  const after = await lease(t.pool, { conversation: "chat-1" });
  assert.equal(after.upstream.id, moved.upstream.id);
  assert.equal(after.sticky, "hit");
  // Without a conversation there is no pin at all.
  after.release("ok");
  assert.equal((await lease(t.pool)).sticky, null);
});

Deno.test("three failures in a row eject a box for 10 s, doubling per failed trial up to 5 min", async () => {
  const t = await poolOver([box("a", { maxInFlight: 10 }), box("b", { maxInFlight: 10 })], {
    random: () => 0,
  });
  t.teach("a", { tags: ["llama3"] });
  t.teach("b", { tags: ["llama3"] });
  for (let i = 0; i < 2; i++) (await lease(t.pool)).release("failed");
  assert.equal((await lease(t.pool)).upstream.id, "a", "two failures do not eject");
  (await lease(t.pool, { exclude: new Set(["b"]) })).release("failed");
  assert.deepEqual(t.ejections, [["a", FIRST_EJECTION_MS]]);
  for (let i = 0; i < 5; i++) assert.equal((await lease(t.pool)).upstream.id, "b");
  let expected = FIRST_EJECTION_MS;
  for (let round = 0; round < 7; round++) {
    t.sched.advance(expected - 1);
    assert.equal(t.pool.status()[0].state, "ejected");
    t.sched.advance(1);
    // One trial request: the box takes exactly one while the trial runs.
    const trial = await lease(t.pool, { exclude: new Set(["b"]) });
    assert.equal(trial.upstream.id, "a");
    const second = t.pool.acquire(want({ exclude: new Set(["b"]) }));
    await settle();
    assert.equal(t.pool.queueDepth, 1, "a second request waits for the trial's end");
    trial.release("failed");
    expected = Math.min(expected * 2, MAX_EJECTION_MS);
    assert.equal(t.ejections.at(-1)![1], expected);
    // The waiting request learns at once that the only box with its model is out.
    assert.deepEqual(await second, { kind: "down", retryAfterSeconds: expected / 1000 });
  }
  assert.equal(expected, MAX_EJECTION_MS);
  t.sched.advance(MAX_EJECTION_MS);
  (await lease(t.pool, { exclude: new Set(["b"]) })).release("ok");
  assert.equal(t.pool.status()[0].state, "healthy");
  // Recovered: the next ejection is short again.
  for (let i = 0; i < 3; i++) (await lease(t.pool, { exclude: new Set(["b"]) })).release("failed");
  assert.equal(t.ejections.at(-1)![1], FIRST_EJECTION_MS);
});

Deno.test("a 503 busy saturates a box: capacity drops to what runs, grows back one per success", async () => {
  const t = await poolOver([box("a", { maxInFlight: 4 }), box("b", { maxInFlight: 4 })], {
    random: () => 0,
  });
  t.teach("a", { tags: ["llama3"], ps: [["llama3", 4096]] });
  t.teach("b", { tags: ["llama3"] });
  const onA = [await lease(t.pool), await lease(t.pool), await lease(t.pool)];
  assert.ok(onA.every((l) => l.upstream.id === "a"));
  // The third says busy: two still run, so two is what the box can take now.
  onA[2].release("busy");
  assert.equal(t.pool.status()[0].saturatedTo, 2);
  assert.equal(t.pool.status()[0].state, "healthy", "busy is not a failure");
  assert.equal((await lease(t.pool)).upstream.id, "b", "a loaded but saturated box takes no more");
  onA[0].release("ok");
  assert.equal(t.pool.status()[0].saturatedTo, 3);
  onA[1].release("ok");
  assert.equal(t.pool.status()[0].saturatedTo, null, "back at max_in_flight: not saturated");
});

Deno.test("a box saturated down to nothing rests, then takes one request again", async () => {
  const t = await poolOver([box("a", { maxInFlight: 2 }), box("b", { maxInFlight: 1 })]);
  t.teach("a", { tags: ["llama3"] });
  t.teach("b", { tags: ["qwen3"] });
  (await lease(t.pool)).release("busy");
  assert.equal(t.pool.status()[0].saturatedTo, 0);
  const waiting = t.pool.acquire(want());
  await settle();
  assert.equal(t.pool.queueDepth, 1);
  t.sched.advance(SATURATION_REST_MS);
  // A newcomer arriving before the pool looks again queues behind the one that waited.
  const newcomer = t.pool.acquire(want({ key: "k2" }));
  await settle();
  const l = leased(await waiting);
  assert.equal(l.upstream.id, "a");
  assert.equal(t.pool.queueDepth, 1);
  l.release("ok");
  assert.equal(leased(await newcomer).upstream.id, "a");
});

Deno.test("the queue is fair across keys: 50 queued requests of one key delay another key's by one slot", async () => {
  const t = await poolOver([box("a"), box("b")]);
  t.teach("a", { tags: ["llama3"] });
  t.teach("b", { tags: ["qwen3"] });
  const served: Array<{ who: string; lease: Lease }> = [];
  const ask = (who: string, key: string) =>
    t.pool.acquire(want({ key })).then((p) => served.push({ who, lease: leased(p) }));
  let running = await lease(t.pool, { key: "batch" });
  for (let i = 0; i < 50; i++) ask(`batch-${i}`, "batch");
  await settle();
  ask("chat", "chat");
  await settle();
  assert.equal(t.pool.queueDepth, 51);
  // The box has one slot: each release lets exactly one waiting request in.
  for (let slot = 0; slot < 51 && !served.some((s) => s.who === "chat"); slot++) {
    running.release("ok");
    await settle();
    assert.equal(served.length, slot + 1);
    running = served.at(-1)!.lease;
  }
  const at = served.findIndex((s) => s.who === "chat");
  assert.ok(at >= 0 && at <= 1, `chat waited ${at} slots: ${served.map((s) => s.who).join(",")}`);
  // The batch's own requests keep their order.
  const batch = served.filter((s) => s.who.startsWith("batch")).map((s) => s.who);
  assert.deepEqual(batch, batch.toSorted((x, y) => Number(x.slice(6)) - Number(y.slice(6))));
});

Deno.test("a request waits at most QUEUE_TIMEOUT, the queue holds at most QUEUE_MAX", async () => {
  const t = await poolOver([box("a"), box("b")], { queueMax: 2, queueTimeoutMs: 60_000 });
  t.teach("a", { tags: ["llama3"] });
  t.teach("b", { tags: ["llama3"] });
  await lease(t.pool);
  await lease(t.pool);
  const first = t.pool.acquire(want());
  await settle();
  t.sched.advance(30_000);
  const second = t.pool.acquire(want({ key: "k2" }));
  await settle();
  assert.deepEqual(await t.pool.acquire(want({ key: "k3" })), {
    kind: "busy",
    reason: "queue_full",
    retryAfterSeconds: 5,
  });
  t.sched.advance(30_000);
  assert.deepEqual(await first, { kind: "busy", reason: "queue_timeout", retryAfterSeconds: 5 });
  assert.equal(t.pool.queueDepth, 1, "the timed-out request left the queue");
  t.sched.advance(30_000);
  assert.equal((await second).kind, "busy");
  assert.equal(t.sched.pending, 0, "no timer is left behind");
});

Deno.test("a client that leaves the queue is removed from it and never gets a slot", async () => {
  const t = await poolOver([box("a"), box("b", { enabled: false })]);
  t.teach("a", { tags: ["llama3"] });
  const running = await lease(t.pool);
  const leaving = new AbortController();
  const gone = t.pool.acquire(want({ signal: leaving.signal }));
  const stays = t.pool.acquire(want({ key: "k2" }));
  await settle();
  leaving.abort();
  assert.equal((await gone).kind, "aborted");
  assert.equal(t.pool.queueDepth, 1);
  running.release("ok");
  assert.equal(leased(await stays).upstream.id, "a");
  assert.deepEqual(t.counts.get("a"), [1, 0, 1], "the slot went to the one that stayed");
});

Deno.test("leases never drift or go negative under a hammer of aborts, failures and double releases", async () => {
  const boxes = [
    box("a", { maxInFlight: 3 }),
    box("b", { maxInFlight: 2 }),
    box("c", { maxInFlight: 1 }),
  ];
  const t = await poolOver(boxes, { queueMax: 1000 });
  for (const b of boxes) t.teach(b.id, { tags: ["llama3"] });
  const rand = seededRandom(11);
  const verdicts = ["ok", "failed", "busy", "model_missing", "neutral"] as const;
  const active: Lease[] = [];
  const pending: Array<Promise<void>> = [];
  for (let step = 0; step < 2000; step++) {
    const r = rand();
    if (r < 0.45) {
      const controller = new AbortController();
      pending.push(
        t.pool.acquire(want({ key: `k${step % 7}`, signal: controller.signal })).then((p) => {
          if (p.kind === "leased") active.push(p.lease);
        }),
      );
      if (rand() < 0.3) controller.abort();
    } else if (r < 0.9 && active.length > 0) {
      const l = active.splice(Math.floor(rand() * active.length), 1)[0];
      l.release(verdicts[Math.floor(rand() * verdicts.length)]);
      if (rand() < 0.2) l.release("ok"); // a second release changes nothing
    } else {
      t.sched.advance(Math.floor(rand() * 20_000));
      t.pool.kick();
    }
    await settle(3);
  }
  // Whatever still waits times out; whatever runs ends.
  t.sched.advance(10 * 60_000);
  await Promise.all(pending);
  for (const l of active.splice(0)) l.release("ok");
  await settle();
  for (const b of boxes) {
    const seen = t.counts.get(b.id) ?? [0];
    assert.ok(Math.min(...seen) >= 0, `${b.id} went negative`);
    assert.ok(Math.max(...seen) <= b.maxInFlight!, `${b.id} peaked at ${Math.max(...seen)}`);
  }
  assert.deepEqual(t.pool.status().map((s) => s.inFlight), [0, 0, 0]);
  assert.equal(t.pool.queueDepth, 0);
});

Deno.test("one box takes everything, unjudged: no tags needed, failures never eject it", async () => {
  const t = await poolOver([box("solo", { maxInFlight: null })]);
  assert.equal(t.pool.routing, false);
  assert.deepEqual(t.probes, [], "a lone box is not probed");
  assert.deepEqual(t.pool.probeTargets(), []);
  for (let i = 0; i < 10; i++) (await lease(t.pool, { model: "anything" })).release("failed");
  const many = await Promise.all(Array.from({ length: 20 }, () => lease(t.pool)));
  assert.ok(many.every((l) => l.upstream.id === "solo"));
  assert.equal(t.pool.status()[0].state, "healthy");
  // Tried once, there is no other box: the retry is told so.
  assert.deepEqual(await t.pool.acquire(want({ exclude: new Set(["solo"]) })), {
    kind: "exhausted",
  });
});

Deno.test("a retry never goes back to a box tried for the same request", async () => {
  const t = await poolOver([box("a"), box("b"), box("c")]);
  for (const id of ["a", "b", "c"]) t.teach(id, { tags: ["llama3"] });
  t.teach("c", { tags: ["qwen3"] });
  const tried = new Set<string>();
  for (let i = 0; i < 2; i++) {
    const l = await lease(t.pool, { exclude: tried, retry: i > 0 });
    tried.add(l.upstream.id);
    l.release("failed");
  }
  assert.deepEqual([...tried].sort(), ["a", "b"]);
  assert.deepEqual(await t.pool.acquire(want({ exclude: tried })), { kind: "exhausted" });
});

Deno.test("a box that says it lacks a model it listed forgets it and has its tags probed again", async () => {
  const t = await poolOver([box("a"), box("b")]);
  t.teach("a", { tags: ["llama3"] });
  t.teach("b", { tags: ["llama3"] });
  t.probes.length = 0;
  const l = await lease(t.pool, { exclude: new Set(["b"]) });
  l.release("model_missing");
  assert.deepEqual(t.probes, [["a", ["tags"]]]);
  assert.equal((await lease(t.pool)).upstream.id, "b");
  assert.equal(t.pool.status()[0].models?.length, 0);
});

Deno.test("a box added, changed or re-enabled is probed at once and starts afresh", async () => {
  const a = box("a");
  const t = await poolOver([a, box("b")]);
  assert.deepEqual(t.probes.map(([id]) => id), ["a", "b"], "routing starts: every box");
  t.probes.length = 0;
  for (let i = 0; i < 3; i++) t.failVersion("a");
  assert.equal(t.pool.status()[0].state, "ejected", "three failed version probes eject");
  t.setBoxes([{ ...a, url: "http://a2:11434" }, box("b"), box("c")]);
  await t.pool.sync();
  assert.deepEqual(t.probes.map(([id]) => id), ["a", "c"]);
  assert.equal(t.pool.status()[0].state, "healthy", "another address: nothing is known of it");
  t.setBoxes([{ ...a, url: "http://a2:11434", enabled: false }, box("b"), box("c")]);
  await t.pool.sync();
  t.setBoxes([{ ...a, url: "http://a2:11434" }, box("b"), box("c")]);
  t.probes.length = 0;
  await t.pool.sync();
  assert.deepEqual(t.probes.map(([id]) => id), ["a"]);
  // A limit change is taken in without a probe.
  t.setBoxes([{ ...a, url: "http://a2:11434", maxInFlight: 4 }, box("b"), box("c")]);
  t.probes.length = 0;
  await t.pool.sync();
  assert.deepEqual(t.probes, []);
  assert.equal(t.pool.status()[0].maxInFlight, 4);
});

/** A ledger that decides later, as one in a database would: counts change only when it does. */
class LaterSlots implements SlotLedger {
  readonly #slots = new LocalSlots();
  inFlight(box: string): number {
    return this.#slots.inFlight(box);
  }
  take(box: string, limit: number | null): Promise<boolean> {
    return Promise.resolve().then(() => Promise.resolve()).then(() => this.#slots.take(box, limit));
  }
  give(box: string): void {
    this.#slots.give(box);
  }
}

Deno.test("two pools sharing a ledger that decides later never exceed a box's max_in_flight together", async () => {
  const ledger = new LaterSlots();
  const boxes = [box("a", { maxInFlight: 2 }), box("b", { maxInFlight: 1 })];
  const one = await poolOver(boxes, { ledger });
  const two = await poolOver(boxes, { ledger });
  for (const t of [one, two]) for (const b of boxes) t.teach(b.id, { tags: ["llama3"] });
  const active: Lease[] = [];
  const placements = [];
  // All asked in the same moment: both pools see empty boxes; the ledger decides.
  for (let i = 0; i < 12; i++) {
    const t = i % 2 ? one : two;
    placements.push(t.pool.acquire(want({ key: `k${i}` })).then((p) => active.push(leased(p))));
  }
  await settle(30);
  assert.equal(active.length, 3);
  const rand = seededRandom(9);
  while (active.length > 0) {
    assert.ok(ledger.inFlight("a") <= 2 && ledger.inFlight("b") <= 1);
    active.splice(Math.floor(rand() * active.length), 1)[0].release("ok");
    one.pool.kick();
    two.pool.kick();
    await settle(30);
  }
  await Promise.all(placements);
  assert.deepEqual([ledger.inFlight("a"), ledger.inFlight("b")], [0, 0]);
});

Deno.test("two pools sharing one ledger never exceed a box's max_in_flight together", async () => {
  const ledger = new LocalSlots();
  const boxes = [box("a", { maxInFlight: 2 }), box("b", { maxInFlight: 1 })];
  const one = await poolOver(boxes, { ledger });
  const two = await poolOver(boxes, { ledger });
  for (const t of [one, two]) for (const b of boxes) t.teach(b.id, { tags: ["llama3"] });
  const active: Lease[] = [];
  const placements = [];
  for (let i = 0; i < 12; i++) {
    const t = i % 2 ? one : two;
    placements.push(t.pool.acquire(want({ key: `k${i}` })).then((p) => active.push(leased(p))));
  }
  await settle();
  assert.equal(active.length, 3);
  const rand = seededRandom(5);
  while (active.length > 0) {
    assert.ok(ledger.inFlight("a") <= 2 && ledger.inFlight("b") <= 1);
    active.splice(Math.floor(rand() * active.length), 1)[0].release("ok");
    // The other instance learns of freed slots on its next round (its prober kicks it).
    one.pool.kick();
    two.pool.kick();
    await settle();
  }
  await Promise.all(placements);
  assert.deepEqual([ledger.inFlight("a"), ledger.inFlight("b")], [0, 0]);
});
