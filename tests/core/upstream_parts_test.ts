import assert from "node:assert/strict";
import { attemptCost, judge } from "../../core/upstreams/failover.ts";
import { FairQueue } from "../../core/upstreams/fair_queue.ts";
import { mergeListings } from "../../core/upstreams/listings.ts";
import { DEFAULT_MAX_IN_FLIGHT } from "../../core/upstreams/setting.ts";
import {
  sealToken,
  seedRows,
  SeveralUpstreams,
  singleUrlChange,
  singleUrlMeant,
  tokenUnreadable,
  upstreamConfig,
} from "../../core/upstreams/records.ts";
import { pinKey, StickyPins } from "../../core/upstreams/sticky.ts";
import { BoxCatalog } from "../../core/upstreams/catalog.ts";
import { parseConfig } from "../../core/config.ts";

const BUSY = '{"error":"server busy, please try again.  maximum pending requests exceeded"}';

Deno.test("failover: retried before the first byte on connection errors, timeouts, 503, 429, 500", () => {
  const retried = [
    [{ kind: "unreachable" }, "failed"],
    [{ kind: "timeout" }, "failed"],
    [{ kind: "response", status: 503, text: BUSY }, "busy"],
    [{ kind: "response", status: 503, text: "<html>Service Unavailable</html>" }, "failed"],
    [{ kind: "response", status: 429, text: null }, "busy"],
    [{ kind: "response", status: 500, text: null }, "failed"],
    [{ kind: "response", status: 404, text: `{"error":"model 'x' not found"}` }, "model_missing"],
  ] as const;
  for (const [end, verdict] of retried) {
    assert.deepEqual(judge(end, true), { retry: true, verdict }, JSON.stringify(end));
  }
});

Deno.test("failover: never retried on other 4xx, on a 404 from a box without the model, or on success", () => {
  const kept = [
    [{ kind: "response", status: 200, text: null }, true, "ok"],
    [{ kind: "response", status: 400, text: '{"error":"bad"}' }, true, "neutral"],
    [{ kind: "response", status: 404, text: "404 page not found" }, true, "neutral"],
    [{ kind: "response", status: 404, text: `{"error":"model 'x' not found"}` }, false, "neutral"],
    [{ kind: "response", status: 502, text: null }, true, "failed"],
  ] as const;
  for (const [end, listed, verdict] of kept) {
    assert.deepEqual(judge(end, listed), { retry: false, verdict }, JSON.stringify(end));
  }
});

Deno.test("failover: what a failed attempt may have cost", () => {
  assert.equal(attemptCost({ kind: "unreachable" }), 0);
  assert.equal(attemptCost({ kind: "response", status: 503, text: BUSY }), 0);
  assert.equal(attemptCost({ kind: "response", status: 429, text: null }), 0);
  assert.equal(attemptCost({ kind: "response", status: 500, text: null }), 1);
  assert.equal(attemptCost({ kind: "timeout" }), 2);
});

Deno.test("fair queue: keys take turns, each key's items leave in order", () => {
  const q = new FairQueue<string>();
  for (let i = 0; i < 4; i++) q.push("a", `a${i}`);
  q.push("b", "b0");
  q.push("b", "b1");
  q.push("c", "c0");
  const out: string[] = [];
  for (let item = q.serve(() => true); item !== null; item = q.serve(() => true)) out.push(item);
  assert.deepEqual(out, ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]);
  assert.equal(q.size, 0);
});

Deno.test("fair queue: an item that cannot be placed does not block the others; front goes first", () => {
  const q = new FairQueue<string>();
  q.push("a", "a-qwen");
  q.push("a", "a-llama");
  q.push("b", "b-qwen");
  assert.equal(q.serve((i) => i.endsWith("llama")), "a-llama");
  q.push("b", "b-retry", true);
  assert.equal(q.serve(() => true), "b-retry");
  assert.equal(q.remove("a", "a-qwen"), true);
  assert.equal(q.remove("a", "a-qwen"), false);
  assert.deepEqual([q.serve(() => true), q.serve(() => true), q.size], ["b-qwen", null, 0]);
});

Deno.test("sticky pins slide while used, expire when not, and the oldest go first", () => {
  const pins = new StickyPins(1000, 2);
  const k1 = pinKey("1", "llama3", "chat")!;
  assert.equal(pinKey("1", "llama3", null), null);
  assert.equal(pinKey("1", "llama3", "x".repeat(300)), null);
  assert.notEqual(pinKey("2", "llama3", "chat"), k1, "pins are per key");
  assert.equal(pinKey("1", "library/llama3:latest", "chat"), k1, "per model by Ollama's rules");
  pins.set(k1, "a", 0);
  assert.equal(pins.get(k1, 999), "a");
  pins.set(k1, "a", 999);
  assert.equal(pins.get(k1, 1998), "a", "using it slides the expiry");
  assert.equal(pins.get(k1, 1999), null);
  pins.set("x", "a", 0);
  pins.set("y", "b", 0);
  pins.set("z", "c", 0);
  assert.deepEqual([pins.size, pins.get("x", 1), pins.get("z", 1)], [2, null, "c"]);
});

Deno.test("a catalog reads /api/tags and /api/ps by Ollama's name rules, and forgets on a 404", () => {
  const c = new BoxCatalog();
  assert.equal(c.lists("llama3"), null, "unknown until read");
  assert.equal(c.setTags({ error: "no" }), false);
  assert.equal(
    c.setTags({ models: [{ name: "llama3:latest" }, { model: "qwen3:8b" }, null] }),
    true,
  );
  assert.equal(c.lists("LLAMA3"), true);
  assert.equal(c.lists("registry.ollama.ai/library/qwen3:8b"), true);
  assert.equal(c.lists("qwen3"), false, "qwen3 is qwen3:latest");
  c.setLoaded({ models: [{ name: "llama3:latest", context_length: 8192 }, { name: "qwen3:8b" }] });
  assert.deepEqual(c.loaded("llama3"), { name: "llama3:latest", contextLength: 8192 });
  assert.deepEqual(c.loaded("qwen3:8b"), { name: "qwen3:8b", contextLength: null });
  c.forget("llama3");
  assert.deepEqual([c.lists("llama3"), c.loaded("llama3")], [false, null]);
});

Deno.test("merged listings are the union in box order, one entry per model", () => {
  const tags = mergeListings([
    { models: [{ name: "llama3:latest", digest: "1" }, { name: "qwen3:8b" }] },
    { models: [{ name: "library/llama3", digest: "2" }, { name: "all-minilm:latest" }] },
    { error: "not a listing" },
  ], { entries: "models", name: "name" });
  assert.deepEqual(tags, {
    models: [{ name: "llama3:latest", digest: "1" }, { name: "qwen3:8b" }, {
      name: "all-minilm:latest",
    }],
  });
  const v1 = mergeListings([{ object: "list", data: [{ id: "a" }] }, {
    object: "list",
    data: [{ id: "a" }, { id: "b" }],
  }], { entries: "data", name: "id" });
  assert.deepEqual(v1, { object: "list", data: [{ id: "a" }, { id: "b" }] });
  assert.equal(mergeListings([], { entries: "models", name: "name" }), null);
});

Deno.test("OLLAMA_URL (or a stored setting) seeds one box (no limit, as before) or several (max_in_flight 1)", () => {
  const at = "2026-06-15T10:00:00.000Z";
  assert.deepEqual(seedRows("http://gpu:11434", at), [{
    name: "gpu:11434",
    url: "http://gpu:11434",
    token_sealed: null,
    enabled: true,
    max_in_flight: null,
    created_at: at,
    updated_at: at,
  }]);
  const several = seedRows(
    " http://a:1/ ,http://user:pw@b:2/ollama,, http://a:1, http://a:1/x",
    at,
  );
  assert.deepEqual(several.map((b) => [b.url, b.name, b.max_in_flight]), [
    ["http://a:1", "a:1", DEFAULT_MAX_IN_FLIGHT],
    ["http://user:pw@b:2/ollama", "b:2/ollama", DEFAULT_MAX_IN_FLIGHT],
    ["http://a:1/x", "a:1/x", DEFAULT_MAX_IN_FLIGHT],
  ], "each URL once; names never show credentials");
  assert.deepEqual(seedRows("", at), []);
});

Deno.test("the one-box Ollama URL creates the box, changes its URL, or is refused with several", () => {
  const at = "2026-06-15T10:00:00.000Z";
  const row = (id: number, url: string) => ({ id, ...seedRows(url, at)[0] });
  assert.deepEqual(singleUrlChange([], "http://gpu:11434", at), {
    kind: "create",
    row: seedRows("http://gpu:11434", at)[0],
  });
  assert.deepEqual(singleUrlChange([row(4, "http://a:1")], "http://b:2", at), {
    kind: "update",
    id: 4,
    patch: { url: "http://b:2", updated_at: at },
  });
  assert.deepEqual(singleUrlChange([row(4, "http://a:1")], "http://a:1", at), { kind: "none" });
  // The URL as the settings show it (credentials as ***) keeps the stored credentials.
  const secret = row(4, "http://u:pw@a:1");
  assert.deepEqual(singleUrlChange([secret], "http://***@a:1", at), { kind: "none" });
  assert.deepEqual(singleUrlChange([secret], "http://***@a:1/", at), { kind: "none" });
  assert.equal(singleUrlMeant([secret], "http://***@a:1"), "http://u:pw@a:1");
  assert.deepEqual(singleUrlChange([secret], "http://***@b:2", at), {
    kind: "update",
    id: 4,
    patch: { url: "http://***@b:2", updated_at: at },
  }, "another host is a new URL, taken as sent");
  assert.throws(
    () => singleUrlChange([row(1, "http://a:1"), row(2, "http://b:2")], "http://c:3", at),
    (err: unknown) => err instanceof SeveralUpstreams && /2 Ollama boxes/.test(err.message),
  );
});

Deno.test("a box's config for the pool opens its sealed token; another key opens nothing", () => {
  const at = "2026-06-15T10:00:00.000Z";
  const stored = { id: 7, ...seedRows("http://a:1", at)[0], token_sealed: sealToken("t0k", "k1") };
  assert.deepEqual(upstreamConfig(stored, "k1"), {
    id: "7",
    name: "a:1",
    url: "http://a:1",
    token: "t0k",
    enabled: true,
    maxInFlight: null,
  });
  assert.equal(upstreamConfig(stored, "k2").token, null);
  assert.equal(tokenUnreadable(stored, "k2"), true);
  assert.equal(tokenUnreadable(stored, "k1"), false);
  assert.equal(sealToken("", "k1"), null, "an empty token is none");
});

Deno.test("OLLAMA_URL takes several comma-separated URLs; QUEUE_MAX and QUEUE_TIMEOUT_SECONDS", () => {
  const c = parseConfig({
    ADMIN_PASSWORD: "a-long-enough-admin-password",
    OLLAMA_URL: "http://a:11434/, https://b.example/ollama/ ,",
    QUEUE_MAX: "0",
    QUEUE_TIMEOUT_SECONDS: "2.5",
  });
  assert.equal(c.ollamaUrl, "http://a:11434,https://b.example/ollama");
  assert.deepEqual([c.queueMax, c.queueTimeoutMs], [0, 2500]);
  const defaults = parseConfig({ ADMIN_PASSWORD: "a-long-enough-admin-password" });
  assert.deepEqual([defaults.queueMax, defaults.queueTimeoutMs], [256, 60_000]);
  for (const bad of ["http://a:1,ftp://b", ",", "http://user:secret@a:1,nope"]) {
    assert.throws(
      () => parseConfig({ ADMIN_PASSWORD: "a-long-enough-admin-password", OLLAMA_URL: bad }),
      (e) =>
        e instanceof Error && e.message.includes("OLLAMA_URL") && !e.message.includes("secret"),
    );
  }
});
