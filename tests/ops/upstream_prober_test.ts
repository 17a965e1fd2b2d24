import assert from "node:assert/strict";
import { UpstreamPool } from "../../core/upstreams/pool.ts";
import type { UpstreamConfig } from "../../core/upstreams/types.ts";
import { PROBE_INTERVALS_MS, PROBE_TIMEOUT_MS, UpstreamProber } from "../../ops/upstream_prober.ts";
import { ManualScheduler, settle } from "../support/manual_scheduler.ts";

const box = (id: string, over: Partial<UpstreamConfig> = {}): UpstreamConfig => ({
  id,
  name: id,
  url: `http://${id}:11434`,
  token: null,
  enabled: true,
  maxInFlight: 1,
  ...over,
});

interface Call {
  method: string;
  url: string;
  authorization: string | null;
}

/**
 * A pool and its prober over boxes answered by `answer` (fetch is the only thing stood in for:
 * the boxes are not running here); `hang` makes a box never answer until aborted.
 */
async function probed(boxes: UpstreamConfig[]) {
  const sched = new ManualScheduler();
  let list = boxes;
  const calls: Call[] = [];
  const down = new Set<string>();
  const hang = new Set<string>();
  const hung = { now: 0, max: 0 };
  const fakeFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    calls.push({
      method: init?.method ?? "GET",
      url: url.host + url.pathname,
      authorization: headers.get("authorization"),
    });
    if (hang.has(url.hostname)) {
      hung.now++;
      hung.max = Math.max(hung.max, hung.now);
      return new Promise((_, reject) =>
        init?.signal?.addEventListener("abort", () => {
          hung.now--;
          reject(new Error("aborted"));
        }, { once: true })
      );
    }
    if (down.has(url.hostname)) return Promise.reject(new TypeError("connection refused"));
    const body = url.pathname === "/api/version"
      ? { version: "0.33.0" }
      : url.pathname === "/api/tags"
      ? { models: [{ name: `${url.hostname}-model:latest` }] }
      : { models: [{ name: `${url.hostname}-model:latest`, context_length: 4096 }] };
    return Promise.resolve(Response.json(body));
  };
  const pool = new UpstreamPool({ source: () => list, scheduler: sched });
  const prober = new UpstreamProber(pool, { fetch: fakeFetch, scheduler: sched });
  prober.start();
  await prober.idle();
  const count = (path: string, host?: string) =>
    calls.filter((c) => c.url.endsWith(path) && (!host || c.url.startsWith(host))).length;
  /** Moves time on and lets the probes that fell due finish. */
  const advance = async (ms: number) => {
    sched.advance(ms);
    await settle(50);
    // A hung probe only ends at its timeout: wait for the others alone.
    if (hang.size === 0) await prober.idle();
  };
  return {
    pool,
    prober,
    sched,
    calls,
    down,
    hang,
    hung,
    count,
    advance,
    setBoxes: (l: UpstreamConfig[]) => {
      list = l;
    },
  };
}

Deno.test("every box is probed at once: version, tags and ps, by GET only, never a generation", async () => {
  const t = await probed([box("a"), box("b", { token: "box-token" })]);
  assert.deepEqual(t.calls.map((c) => `${c.method} ${c.url}`).sort(), [
    "GET a:11434/api/ps",
    "GET a:11434/api/tags",
    "GET a:11434/api/version",
    "GET b:11434/api/ps",
    "GET b:11434/api/tags",
    "GET b:11434/api/version",
  ]);
  assert.ok(
    t.calls.filter((c) => c.url.startsWith("b")).every((c) =>
      c.authorization === "Bearer box-token"
    ),
  );
  assert.ok(t.calls.filter((c) => c.url.startsWith("a")).every((c) => c.authorization === null));
  const [a] = t.pool.status();
  assert.deepEqual([a.version, a.models, a.loaded], ["0.33.0", ["a-model:latest"], [{
    name: "a-model:latest",
    contextLength: 4096,
  }]]);
  await t.prober.stop();
});

Deno.test("probes repeat on their intervals: ps every 5 s, version every 10 s, tags every 60 s", async () => {
  const t = await probed([box("a"), box("b")]);
  t.calls.length = 0;
  for (let elapsed = 0; elapsed < 60_000; elapsed += 1000) await t.advance(1000);
  assert.equal(t.count("/api/ps", "a"), 60_000 / PROBE_INTERVALS_MS.ps);
  assert.equal(t.count("/api/version", "a"), 60_000 / PROBE_INTERVALS_MS.version);
  assert.equal(t.count("/api/tags", "a"), 1);
  assert.equal(t.count("/api/ps", "b"), 12);
  assert.ok(t.calls.every((c) => c.method === "GET"));
  await t.prober.stop();
});

Deno.test("a box added or changed is probed at once; a removed one no more", async () => {
  const t = await probed([box("a"), box("b")]);
  t.calls.length = 0;
  t.setBoxes([box("a"), box("c")]);
  await t.pool.sync();
  await t.prober.idle();
  assert.deepEqual(t.calls.map((c) => c.url).sort(), [
    "c:11434/api/ps",
    "c:11434/api/tags",
    "c:11434/api/version",
  ]);
  t.calls.length = 0;
  await t.advance(PROBE_INTERVALS_MS.version);
  assert.equal(t.count("/api/version", "b"), 0);
  assert.equal(t.count("/api/version", "a"), 1);
  await t.prober.stop();
});

Deno.test("failed version probes eject a box; a probe that hangs is cut off and counts", async () => {
  const t = await probed([box("a"), box("b")]);
  t.down.add("a");
  t.hang.add("b");
  for (let i = 0; i < 3; i++) await t.advance(PROBE_INTERVALS_MS.version);
  assert.equal(t.pool.status()[0].state, "ejected");
  assert.match(t.pool.status()[0].error ?? "", /connection refused/);
  // A hung probe ends at its timeout, fails, and is not started twice meanwhile.
  await t.advance(PROBE_TIMEOUT_MS);
  assert.match(t.pool.status()[1].error ?? "", /no answer within/);
  assert.ok(t.hung.max <= 3, `at most one probe of each kind at a time (${t.hung.max})`);
  assert.equal(t.pool.status()[1].models?.[0], "b-model:latest", "what was known stays");
  await t.prober.stop();
});

Deno.test("stop aborts running probes and no timer or probe runs afterwards", async () => {
  const t = await probed([box("a"), box("b")]);
  t.hang.add("a");
  await t.advance(PROBE_INTERVALS_MS.ps);
  await t.prober.stop();
  assert.equal(t.sched.pending, 0, "no timer left");
  const before = t.calls.length;
  t.sched.advance(10 * 60_000);
  await settle();
  assert.equal(t.calls.length, before);
});

Deno.test("a lone box is not probed", async () => {
  const t = await probed([box("solo", { maxInFlight: null })]);
  assert.deepEqual(t.calls, []);
  await t.advance(60_000);
  assert.deepEqual(t.calls, []);
  assert.equal(t.sched.pending, 0);
  // A second box turns routing on: both are probed at once.
  t.setBoxes([box("solo"), box("b")]);
  await t.pool.sync();
  await t.prober.idle();
  assert.equal(t.count("/api/version"), 2);
  await t.prober.stop();
});
