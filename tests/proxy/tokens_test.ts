import assert from "node:assert/strict";
import { estimateOf } from "../support/prompts.ts";
import { gatewayTest } from "../support/gateway.ts";

const messages = [{ role: "user", content: "Say hi" }];

// The mock reports 7 prompt tokens and one completion token per chunk (3 by default).
const ROUTES: Array<{ path: string; body: Record<string, unknown>; completion: number }> = [
  { path: "/api/chat", body: { model: "llama3", messages, stream: false }, completion: 3 },
  { path: "/api/chat", body: { model: "llama3", messages }, completion: 3 },
  {
    path: "/api/generate",
    body: { model: "llama3", prompt: "Say hi", stream: false },
    completion: 3,
  },
  { path: "/api/generate", body: { model: "llama3", prompt: "Say hi" }, completion: 3 },
  { path: "/api/embed", body: { model: "all-minilm", input: ["a", "b"] }, completion: 0 },
  { path: "/v1/chat/completions", body: { model: "llama3", messages }, completion: 3 },
  {
    path: "/v1/chat/completions",
    body: { model: "llama3", messages, stream: true },
    completion: 3,
  },
  {
    path: "/v1/chat/completions",
    body: { model: "llama3", messages, stream: true, stream_options: { include_usage: true } },
    completion: 3,
  },
  { path: "/v1/completions", body: { model: "llama3", prompt: "Say hi" }, completion: 3 },
  {
    path: "/v1/completions",
    body: { model: "llama3", prompt: "Say hi", stream: true },
    completion: 3,
  },
  { path: "/v1/embeddings", body: { model: "all-minilm", input: "hello" }, completion: 0 },
];

for (const route of ROUTES) {
  const streamed = route.body.stream === false
    ? "not streamed"
    : route.body.stream === undefined && route.path.startsWith("/v1")
    ? "not streamed"
    : route.path.includes("embed")
    ? "not streamed"
    : "streamed";
  gatewayTest(
    `exact token counts on ${route.path}, ${streamed}${
      route.body.stream_options ? ", with usage" : ""
    }`,
    async (t) => {
      const { key, id } = await t.createKey();
      const res = await t.post(route.path, key, route.body);
      assert.equal(res.status, 200);
      await res.text();
      const usage = await t.usage(id);
      assert.deepEqual(usage.today, {
        requests: 1,
        prompt_tokens: 7,
        completion_tokens: route.completion,
        tokens: 7 + route.completion,
      });
      assert.deepEqual(usage.month, usage.today);
    },
  );
}

gatewayTest(
  "legacy /api/embeddings has no counts: its prompt is estimated from everything sent",
  async (t) => {
    const { key, id } = await t.createKey();
    const res = await t.post("/api/embeddings", key, {
      model: "all-minilm",
      prompt: "The quick brown fox",
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const usage = await t.usage(id);
    assert.equal(usage.today.prompt_tokens, estimateOf({ prompt: "The quick brown fox" }));
    assert.equal(usage.today.completion_tokens, 0);
  },
);

gatewayTest(
  "a missing prompt count (cached prompt) is estimated, the eval count kept",
  async (t) => {
    t.mock.set({ omitPromptCount: true });
    const { key, id } = await t.createKey();
    const res = await t.post("/api/generate", key, { model: "llama3", prompt: "Tell me a story" });
    await res.text();
    const usage = await t.usage(id);
    assert.equal(usage.today.prompt_tokens, estimateOf({ prompt: "Tell me a story" }));
    assert.equal(usage.today.completion_tokens, 3);
  },
);

gatewayTest(
  "the usage chunk is stripped for OpenAI chat clients that did not ask for it",
  async (t) => {
    const { key } = await t.createKey();
    const res = await t.post("/v1/chat/completions", key, {
      model: "llama3",
      messages,
      stream: true,
    });
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const text = await res.text();
    assert.ok(!text.includes('"usage"'), text);
    assert.ok(text.endsWith("data: [DONE]\n\n"));
    const events = text.split("\n\n").filter(Boolean);
    assert.equal(events.length, 5); // 3 content chunks, the finish chunk, [DONE]
    const sent = t.mock.requests.at(-1)!.body as { stream_options: { include_usage: boolean } };
    assert.equal(sent.stream_options.include_usage, true);
  },
);

gatewayTest("the usage chunk is kept for OpenAI clients that asked for it", async (t) => {
  const { key } = await t.createKey();
  const res = await t.post("/v1/chat/completions", key, {
    model: "llama3",
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  const text = await res.text();
  const usage = text.split("\n\n").find((e) => e.includes('"choices":[]'));
  assert.ok(usage, text);
  assert.deepEqual(JSON.parse(usage.slice(6)).usage, {
    prompt_tokens: 7,
    completion_tokens: 3,
    total_tokens: 10,
  });
});

gatewayTest(
  "legacy completions streams lose every usage field the client did not ask for",
  async (t) => {
    const { key, id } = await t.createKey();
    const res = await t.post("/v1/completions", key, {
      model: "llama3",
      prompt: "Say hi",
      stream: true,
    });
    const text = await res.text();
    assert.ok(!text.includes("usage"), text);
    assert.ok(text.endsWith("data: [DONE]\n\n"));
    for (const event of text.split("\n\n").filter((e) => e && e !== "data: [DONE]")) {
      assert.equal(JSON.parse(event.slice(6)).object, "text_completion");
    }
    assert.equal((await t.usage(id)).today.completion_tokens, 3);
  },
);

gatewayTest(
  "native streams reach the client byte for byte with Ollama's content type",
  async (t) => {
    const { key } = await t.createKey();
    const viaGateway = await t.post("/api/chat", key, { model: "llama3", messages });
    assert.equal(viaGateway.headers.get("content-type"), "application/x-ndjson");
    const gatewayText = await viaGateway.text();
    const direct = await fetch(t.mock.url + "/api/chat", {
      method: "POST",
      body: JSON.stringify({ model: "llama3", messages }),
    });
    const directText = await direct.text();
    const strip = (s: string) =>
      s.replace(/"created_at":"[^"]*"/g, "").replace(/"[a-z_]*duration":\d+/g, "");
    assert.equal(strip(gatewayText), strip(directText));
  },
);
