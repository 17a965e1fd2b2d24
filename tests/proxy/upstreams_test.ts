import assert from "node:assert/strict";
import { mockAnswer } from "../support/mock_ollama.ts";
import { boxesTest, until } from "../support/several_boxes.ts";
import { parsePrometheus, valueOf } from "../ops/prometheus_text.ts";

const messages = [{ role: "user", content: "Say hi" }];
const BUSY = "server busy, please try again.  maximum pending requests exceeded";

boxesTest(
  "requests go to the box that has their model, on native and OpenAI routes",
  [
    { mock: { models: ["llama3:latest"] } },
    { mock: { models: ["qwen3:8b"] } },
    { mock: { models: ["all-minilm:latest"] } },
  ],
  async ({ t, mocks }) => {
    const { key, id } = await t.createKey();
    const chat = await t.post("/api/chat", key, { model: "qwen3:8b", messages, stream: false });
    assert.equal(chat.status, 200);
    assert.equal((await chat.json()).message.content, mockAnswer(3));
    const v1 = await t.post("/v1/chat/completions", key, { model: "llama3", messages });
    assert.equal(v1.status, 200);
    await v1.body?.cancel();
    const embed = await t.post("/api/embed", key, { model: "all-minilm", input: "hi" });
    assert.equal(embed.status, 200);
    await embed.body?.cancel();
    assert.deepEqual(mocks.map((m) => m!.inferenceCount()), [1, 1, 1]);
    assert.equal(mocks[1]!.requests[0].path, "/api/chat");
    assert.equal(mocks[0]!.requests[0].path, "/v1/chat/completions");
    // No box has it: Ollama's words, in each route's shape, nothing charged, no box asked.
    const native = await t.post("/api/chat", key, { model: "nope", messages });
    assert.equal(native.status, 404);
    assert.equal((await native.json()).error, "model 'nope' not found");
    const openai = await t.post("/v1/chat/completions", key, { model: "nope", messages });
    assert.equal(openai.status, 404);
    assert.equal((await openai.json()).error.type, "not_found_error");
    assert.deepEqual(mocks.map((m) => m!.inferenceCount()), [1, 1, 1]);
    assert.equal((await t.usage(id)).today.requests, 3);
  },
);

boxesTest(
  "a box that refuses connections is skipped: one clean answer, charged once",
  [
    { mock: { models: ["llama3:latest"] }, loaded: ["llama3"] },
    { mock: { models: ["llama3:latest"] } },
    { mock: { models: ["qwen3:8b"] } },
  ],
  async ({ t, mocks }) => {
    const { key, id } = await t.createKey();
    // The loaded box is preferred; it goes away, its port now refuses connections.
    await mocks[0]!.close();
    for (const path of ["/api/chat", "/v1/chat/completions"]) {
      const res = await t.post(path, key, { model: "llama3", messages, stream: false });
      assert.equal(res.status, 200, path);
      await res.body?.cancel();
    }
    assert.equal(mocks[1]!.inferenceCount(), 2);
    const usage = await t.usage(id);
    assert.equal(usage.today.requests, 2);
    assert.equal(usage.today.completion_tokens, 6, "each answer charged once");
  },
);

boxesTest(
  "a box that sends no headers before UPSTREAM_CONNECT_TIMEOUT is left for the next",
  [
    { mock: { models: ["llama3:latest"] }, loaded: ["llama3"] },
    { mock: { models: ["llama3:latest"] } },
  ],
  async ({ t, mocks }) => {
    const { key, id } = await t.createKey();
    mocks[0]!.update({ firstByteDelayMs: 60_000 });
    const res = await t.post("/api/chat", key, { model: "llama3", messages, stream: true });
    assert.equal(res.status, 200);
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.at(-1).done, true);
    assert.equal(lines.filter((l) => l.error).length, 0);
    await until(() => mocks[0]!.requests.at(-1)?.aborted === true, "the hung attempt to end");
    assert.equal(mocks[1]!.inferenceCount(), 1);
    const usage = await t.usageWhen(id, (u) => u.today.requests === 1);
    assert.deepEqual([usage.today.requests, usage.today.completion_tokens], [1, 3]);
  },
  { UPSTREAM_CONNECT_TIMEOUT: "1" },
);

boxesTest(
  "Ollama's 503 server busy moves the request on and saturates the box without ejecting it",
  [
    { mock: { models: ["llama3:latest"] }, loaded: ["llama3"] },
    { mock: { models: ["llama3:latest"] } },
  ],
  async ({ t, mocks, pool }) => {
    const { key, id } = await t.createKey();
    // The box with the model loaded is preferred; its queue is full.
    mocks[0]!.update({ failWith: { status: 503, error: BUSY, phase: "load" } });
    const res = await t.post("/v1/chat/completions", key, { model: "llama3", messages });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).choices[0].message.content, mockAnswer(3));
    assert.deepEqual(mocks.map((m) => m!.inferenceCount()), [1, 1]);
    const [busy] = pool.status();
    assert.deepEqual([busy.state, busy.saturatedTo], ["healthy", 0]);
    // The saturated box takes nothing more for now: the next request goes straight on.
    const next = await t.post("/api/generate", key, {
      model: "llama3",
      prompt: "x",
      stream: false,
    });
    assert.equal(next.status, 200);
    await next.body?.cancel();
    assert.deepEqual(mocks.map((m) => m!.inferenceCount()), [1, 2]);
    assert.deepEqual((await t.usage(id)).today.requests, 2);
  },
);

boxesTest(
  "every box busy: Ollama's own 503 reaches the client after the attempts, nothing charged",
  [
    { mock: { models: ["llama3:latest"], failWith: { status: 503, error: BUSY } } },
    { mock: { models: ["llama3:latest"], failWith: { status: 503, error: BUSY } } },
  ],
  async ({ t, mocks }) => {
    const { key, id } = await t.createKey();
    const res = await t.post("/api/generate", key, { model: "llama3", prompt: "x" });
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error, BUSY);
    assert.deepEqual(mocks.map((m) => m!.inferenceCount()), [1, 1], "each box tried once");
    assert.equal((await t.usage(id)).today.requests, 0);
  },
);

boxesTest(
  "a 400 is not retried on another box",
  [
    { mock: { models: ["llama3:latest"], failWith: { status: 400, error: "bad options" } } },
    { mock: { models: ["llama3:latest"], failWith: { status: 400, error: "bad options" } } },
  ],
  async ({ t, mocks }) => {
    const { key } = await t.createKey();
    const res = await t.post("/api/chat", key, { model: "llama3", messages });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, "bad options");
    assert.equal(mocks[0]!.inferenceCount() + mocks[1]!.inferenceCount(), 1);
  },
);

boxesTest(
  "a box dying mid-stream: the stream ends with an error, what was sent is charged, no replay",
  [
    {
      mock: { models: ["llama3:latest"], chunks: 50, chunkDelayMs: 20 },
      loaded: ["llama3"],
      cuttable: true,
    },
    { mock: { models: ["llama3:latest"] } },
    { mock: { models: ["llama3:latest"] } },
  ],
  async ({ t, mocks, paths }) => {
    const { key, id } = await t.createKey();
    const res = await t.post("/api/chat", key, { model: "llama3", messages, stream: true });
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (text.split("\n").filter(Boolean).length < 3) text += (await reader.read()).value ?? "";
    paths[0]!.cut();
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    const lines = text.trim().split("\n").map((l) => JSON.parse(l));
    assert.match(lines.at(-1).error, /upstream connection lost/);
    const usage = await t.usageWhen(id, (u) => u.today.completion_tokens > 0);
    assert.equal(usage.today.requests, 1);
    assert.ok(usage.today.completion_tokens >= 3 && usage.today.completion_tokens < 50);
    assert.deepEqual([mocks[1]!.inferenceCount(), mocks[2]!.inferenceCount()], [0, 0]);
  },
);

boxesTest(
  "listings are the union over the boxes that answer, one box down is skipped, then filtered by key",
  [
    { mock: { models: ["llama3:latest", "qwen3:8b"] }, loaded: ["llama3"] },
    { mock: { models: ["qwen3:8b", "all-minilm:latest"] }, loaded: ["qwen3:8b"] },
    { refused: true },
  ],
  async ({ t }) => {
    const { key } = await t.createKey();
    const get = async (path: string, k = key) => {
      const res = await t.proxy(path, { headers: { authorization: `Bearer ${k}` } });
      assert.equal(res.status, 200, path);
      return await res.json();
    };
    const tags = await get("/api/tags");
    assert.deepEqual(tags.models.map((m: { name: string }) => m.name), [
      "llama3:latest",
      "qwen3:8b",
      "all-minilm:latest",
    ]);
    const v1 = await get("/v1/models");
    assert.equal(v1.object, "list");
    assert.deepEqual(v1.data.map((m: { id: string }) => m.id).sort(), [
      "all-minilm:latest",
      "llama3:latest",
      "qwen3:8b",
    ]);
    const ps = await get("/api/ps");
    assert.deepEqual(ps.models.map((m: { name: string }) => m.name).sort(), [
      "llama3:latest",
      "qwen3:8b",
    ]);
    const head = await t.proxy("/api/tags", {
      method: "HEAD",
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(head.status, 200);
    const { key: limited } = await t.createKey({ models: ["qwen3:*"] });
    assert.deepEqual(
      (await get("/api/tags", limited)).models.map((m: { name: string }) => m.name),
      [
        "qwen3:8b",
      ],
    );
    assert.deepEqual((await get("/v1/models", limited)).data.map((m: { id: string }) => m.id), [
      "qwen3:8b",
    ]);
    // A read about one model goes to a box that has it.
    const show = await t.post("/api/show", key, { model: "all-minilm" });
    assert.equal(show.status, 200);
    await show.body?.cancel();
    const version = await get("/api/version");
    assert.equal(typeof version.version, "string");
  },
);

boxesTest(
  "parallel requests take one box each up to max_in_flight; the next waits and gets 503 all_upstreams_busy",
  [
    { mock: { models: ["llama3:latest"], hang: true } },
    { mock: { models: ["llama3:latest"], hang: true } },
    { mock: { models: ["llama3:latest"], hang: true } },
  ],
  async ({ t, mocks }) => {
    const { key, id } = await t.createKey();
    const send = (body: unknown, signal: AbortSignal) =>
      fetch(t.gateway.proxyUrl + "/api/generate", {
        method: "POST",
        headers: { authorization: `Bearer ${key}` },
        body: JSON.stringify(body),
        signal,
      }).then((r) => r.body?.cancel(), () => null);
    const stop = new AbortController();
    const running = [0, 1, 2].map(() =>
      send({ model: "llama3", prompt: "x", stream: false }, stop.signal)
    );
    await until(() => mocks.every((m) => m!.inferenceCount() === 1), "one request on each box");
    const started = Date.now();
    const waited = await t.post("/v1/chat/completions", key, { model: "llama3", messages });
    assert.equal(waited.status, 503);
    assert.ok(Date.now() - started >= 400, "it waited in the queue first");
    assert.equal(waited.headers.get("retry-after"), "5");
    const body = await waited.json();
    assert.equal(body.error.code, "all_upstreams_busy");
    assert.deepEqual(
      mocks.map((m) => m!.inferenceCount()),
      [1, 1, 1],
      "no box above max_in_flight",
    );
    // A client that leaves the queue is not charged either.
    const leaving = new AbortController();
    const gone = send({ model: "llama3", prompt: "y" }, leaving.signal);
    await until(() => t.gateway.deps.upstreams!.queueDepth === 1, "the request to queue");
    leaving.abort();
    await gone;
    await until(() => t.gateway.deps.upstreams!.queueDepth === 0, "the queue to empty");
    // The three running requests end (their clients leave): they, and only they, count.
    stop.abort();
    await Promise.all(running);
    await until(() => mocks.every((m) => m!.requests[0].aborted), "the boxes to be freed");
    const usage = await t.usageWhen(id, (u) => u.today.requests === 3);
    assert.equal(usage.today.requests, 3);
    // On PostgreSQL the counts are the shared leases, read again about once a second.
    await until(
      () => t.gateway.deps.upstreams!.status().every((s) => s.inFlight === 0),
      "every box's in-flight count back to 0",
    );
  },
  { QUEUE_TIMEOUT_SECONDS: "0.5" },
);

boxesTest(
  "a conversation goes back to the same box (X-OpenWebUI-Chat-Id)",
  [
    { mock: { models: ["llama3:latest"] } },
    { mock: { models: ["llama3:latest"] } },
    { mock: { models: ["llama3:latest"] } },
  ],
  async ({ t, mocks }) => {
    const { key } = await t.createKey();
    for (let i = 0; i < 6; i++) {
      const res = await t.post("/api/chat", key, { model: "llama3", messages, stream: false }, {
        "x-openwebui-chat-id": "chat-42",
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    const counts = mocks.map((m) => m!.inferenceCount());
    assert.deepEqual(counts.toSorted(), [0, 0, 6], `one box took the conversation: ${counts}`);
  },
);

boxesTest(
  "a stream holds its box until it ends: in flight while it runs, free once the client leaves",
  [
    { mock: { models: ["llama3:latest"], hang: true, chunkDelayMs: 20 } },
    { mock: { models: ["llama3:latest"], hang: true, chunkDelayMs: 20 } },
  ],
  async ({ t, pool }) => {
    const { key } = await t.createKey();
    const inFlight = () => pool.status().map((s) => s.inFlight);
    const streams = [];
    for (let i = 0; i < 2; i++) {
      const res = await t.post("/api/chat", key, { model: "llama3", messages, stream: true });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      await reader.read();
      streams.push(reader);
    }
    assert.deepEqual(inFlight(), [1, 1], "each stream keeps its box's one slot");
    for (const reader of streams) await reader.cancel();
    await until(() => inFlight().every((n) => n === 0), "the slots to be given back");
  },
);

boxesTest(
  "each box's time to first byte and cold loads are in its metrics, and the request log names the box",
  [
    { mock: { models: ["llama3:latest"], loadDurationMs: 1500 } },
    { mock: { models: ["qwen3:8b"] } },
  ],
  async ({ t, urls }) => {
    const { key } = await t.createKey();
    for (const model of ["llama3", "qwen3:8b", "qwen3:8b"]) {
      const res = await t.post("/api/chat", key, { model, messages, stream: false });
      assert.equal(res.status, 200, model);
      await res.body?.cancel();
    }
    const [cold, warm] = urls.map((u) => new URL(u).host);
    const samples = parsePrometheus(await (await t.admin("/metrics")).text());
    assert.equal(valueOf(samples, "llmq_upstream_cold_loads_total", { upstream: cold }), 1);
    assert.equal(valueOf(samples, "llmq_upstream_cold_loads_total", { upstream: warm }), undefined);
    const ttfbCount = (box: string) =>
      valueOf(samples, "llmq_upstream_box_ttfb_seconds_count", { upstream: box });
    assert.equal(ttfbCount(cold), 1);
    assert.equal(ttfbCount(warm), 2);
    const log = await (await t.admin("/api/requests")).json() as {
      rows: Array<{ model: string; upstream: string | null }>;
    };
    assert.deepEqual(
      log.rows.map((r) => [r.model, r.upstream]),
      // The request log holds the canonical spelling of the client's `llama3`.
      [["qwen3:8b", warm], ["qwen3:8b", warm], ["llama3:latest", cold]],
    );
  },
);
