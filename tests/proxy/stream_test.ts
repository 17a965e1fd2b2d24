import assert from "node:assert/strict";
import { gatewayTest } from "../support/gateway.ts";

const messages = [{ role: "user", content: "Say hi" }];

async function readLines(body: ReadableStream<Uint8Array>, count: number) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (text.split("\n").filter(Boolean).length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  return { reader, text };
}

async function until(check: () => boolean | Promise<boolean>, what: string) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

gatewayTest("stream chunks reach the client while Ollama is still generating", async (t) => {
  // The mock never finishes: a buffering gateway would deliver nothing.
  t.mock.set({ hang: true, chunkDelayMs: 20 });
  const { key } = await t.createKey();
  const res = await t.post("/api/generate", key, { model: "llama3", prompt: "go" });
  const { reader, text } = await readLines(res.body!, 2);
  assert.ok(text.split("\n").filter(Boolean).length >= 2);
  await reader.cancel();
});

gatewayTest(
  "client disconnect mid-stream aborts Ollama and charges what was generated",
  async (t) => {
    t.mock.set({ hang: true, chunkDelayMs: 20 });
    const { key, id } = await t.createKey();
    const res = await t.post("/api/chat", key, { model: "llama3", messages });
    const { reader } = await readLines(res.body!, 3);
    await reader.cancel();
    await until(
      () => t.mock.requests.at(-1)?.aborted === true,
      "the upstream request to be aborted",
    );
    await until(async () => (await t.usage(id)).today.completion_tokens > 0, "partial usage");
    const usage = await t.usage(id);
    assert.equal(usage.today.requests, 1);
    assert.ok(usage.today.completion_tokens >= 3, JSON.stringify(usage));
    assert.ok(usage.today.prompt_tokens > 0, "the prompt is estimated");
  },
);

gatewayTest("client disconnect on an OpenAI stream aborts Ollama too", async (t) => {
  t.mock.set({ hang: true, chunkDelayMs: 20 });
  const { key, id } = await t.createKey({ daily_token_limit: 100_000 });
  const res = await t.post("/v1/chat/completions", key, {
    model: "llama3",
    messages,
    stream: true,
  });
  const { reader } = await readLines(res.body!, 2);
  await reader.cancel();
  await until(() => t.mock.requests.at(-1)?.aborted === true, "the upstream request to be aborted");
  await until(async () => (await t.usage(id)).today.completion_tokens > 0, "partial usage");
  // The reservation was released: the whole budget minus what was charged is free again.
  t.mock.reset();
  const remaining = await t.post("/api/chat", key, { model: "llama3", messages, stream: false });
  assert.ok(Number(remaining.headers.get("x-ratelimit-remaining-tokens")) > 90_000);
  await remaining.body?.cancel();
});

gatewayTest("no charge when Ollama is down: 502 and the request unit is given back", async (t) => {
  const { key, id } = await t.createKey({ daily_request_limit: 1 });
  await (await t.admin("/api/settings", {
    method: "PUT",
    body: JSON.stringify({ ollama_url: "http://127.0.0.1:9" }),
  })).body?.cancel();
  for (const path of ["/api/chat", "/v1/chat/completions"]) {
    const res = await t.post(path, key, { model: "llama3", messages });
    assert.equal(res.status, 502);
    const body = await res.json();
    assert.match(path.startsWith("/v1") ? body.error.message : body.error, /Cannot reach Ollama/);
  }
  assert.deepEqual((await t.usage(id)).today.requests, 0);
});

gatewayTest(
  "an Ollama error before the first byte is passed through and not charged",
  async (t) => {
    const { key, id } = await t.createKey();
    const res = await t.post("/api/chat", key, { model: "nope", messages });
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error, "model 'nope' not found");
    const v1 = await t.post("/v1/chat/completions", key, { model: "nope", messages });
    assert.equal(v1.status, 404);
    assert.equal((await v1.json()).error.type, "not_found_error");
    t.mock.set({
      failWith: {
        status: 503,
        error: "server busy, please try again.  maximum pending requests exceeded",
      },
    });
    const busy = await t.post("/api/generate", key, { model: "llama3", prompt: "x" });
    assert.equal(busy.status, 503);
    await busy.body?.cancel();
    assert.equal((await t.usage(id)).today.requests, 0);
  },
);

gatewayTest(
  "Ollama's mid-stream error line reaches the client, is recorded as an error; output is charged",
  async (t) => {
    t.mock.set({ failMidStreamAfter: 2, chunks: 5 });
    const { key, id } = await t.createKey();
    const res = await t.post("/api/generate", key, { model: "llama3", prompt: "x" });
    const lines = (await res.text()).split("\n").filter(Boolean);
    assert.ok(JSON.parse(lines.at(-1)!).error, lines.at(-1));
    const usage = await t.usage(id);
    assert.equal(usage.today.requests, 1);
    assert.equal(usage.today.completion_tokens, 2);
    // Not a 200: the stream ended in Ollama's error (the client got its 200 before it began).
    const line = t.logs.find((l) => l.includes('route="/api/generate"') && l.includes("status="));
    assert.match(line ?? "", /status=502 /);
  },
);
