import assert from "node:assert/strict";
import OpenAI from "openai";
import { gatewayTest } from "../support/gateway.ts";
import { mockAnswer } from "../support/mock_ollama.ts";
import { caught, collect, countingFetch, openaiFor, stable, type Target } from "./clients.ts";

// The official OpenAI SDK, unmodified but for its base URL and key, gets the same answers
// through the gateway as from Ollama itself.
const messages = [{ role: "user" as const, content: "Say hi" }];

gatewayTest("OpenAI SDK: a chat completion is the same through the gateway", async (t) => {
  const { key, id } = await t.createKey();
  const call = (target: Target) =>
    openaiFor(t, target, key).chat.completions.create({ model: "llama3", messages });
  const via = await call("gateway");
  assert.deepEqual(stable(via), stable(await call("ollama")));
  assert.equal(via.choices[0].message.content, mockAnswer(3));
  assert.deepEqual(via.usage, { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
  assert.equal((await t.usageWhen(id, (u) => u.today.tokens >= 10)).today.tokens, 10);
});

for (const includeUsage of [false, true]) {
  gatewayTest(
    `OpenAI SDK: a streamed chat is the same through the gateway, ${
      includeUsage ? "with" : "without"
    } stream_options.include_usage`,
    async (t) => {
      const { key, id } = await t.createKey();
      const call = async (target: Target) =>
        collect(
          await openaiFor(t, target, key).chat.completions.create({
            model: "llama3",
            messages,
            stream: true,
            ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
          }),
        );
      const via = await call("gateway");
      assert.deepEqual(stable(via), stable(await call("ollama")));
      const text = via.map((c) => c.choices[0]?.delta.content ?? "").join("");
      assert.equal(text, mockAnswer(3));
      // The usage chunk is there exactly when the client asked for it.
      assert.equal(via.some((c) => c.usage), includeUsage);
      assert.equal((await t.usageWhen(id, (u) => u.today.tokens >= 10)).today.tokens, 10);
    },
  );
}

gatewayTest("OpenAI SDK: legacy completions, plain and streamed", async (t) => {
  const { key, id } = await t.createKey();
  const plain = (target: Target) =>
    openaiFor(t, target, key).completions.create({ model: "llama3", prompt: "Say hi" });
  const via = await plain("gateway");
  assert.deepEqual(stable(via), stable(await plain("ollama")));
  assert.equal(via.choices[0].text, mockAnswer(3));
  const streamed = async (target: Target) =>
    collect(
      await openaiFor(t, target, key).completions.create({
        model: "llama3",
        prompt: "Say hi",
        stream: true,
      }),
    );
  const chunks = await streamed("gateway");
  assert.deepEqual(stable(chunks), stable(await streamed("ollama")));
  assert.equal(chunks.map((c) => c.choices[0]?.text ?? "").join(""), mockAnswer(3));
  assert.equal((await t.usageWhen(id, (u) => u.today.tokens >= 20)).today.tokens, 20);
});

gatewayTest("OpenAI SDK: embeddings (the SDK asks for base64) decode the same", async (t) => {
  const { key, id } = await t.createKey();
  const call = (target: Target) =>
    openaiFor(t, target, key).embeddings.create({ model: "all-minilm", input: ["a", "b"] });
  const via = await call("gateway");
  assert.deepEqual(stable(via), stable(await call("ollama")));
  assert.equal(via.data.length, 2);
  assert.equal(via.data[0].embedding.length, 4);
  assert.equal((await t.usage(id)).today.prompt_tokens, via.usage.prompt_tokens);
});

gatewayTest("OpenAI SDK: models list and retrieve, not counted", async (t) => {
  const { key, id } = await t.createKey();
  const list = (target: Target) => collect(openaiFor(t, target, key).models.list());
  const models = await list("gateway");
  assert.deepEqual(models, await list("ollama"));
  assert.deepEqual(models.map((m) => m.id).sort(), [
    "all-minilm:latest",
    "llama3.2:latest",
    "llama3:latest",
  ]);
  const one = (target: Target) => openaiFor(t, target, key).models.retrieve("llama3");
  assert.deepEqual(await one("gateway"), await one("ollama"));
  assert.equal((await t.usage(id)).today.requests, 0);
});

gatewayTest("OpenAI SDK: the Responses API, plain and streamed", async (t) => {
  const { key, id } = await t.createKey();
  const plain = (target: Target) =>
    openaiFor(t, target, key).responses.create({ model: "llama3", input: "Say hi" });
  const via = await plain("gateway");
  assert.deepEqual(stable(via), stable(await plain("ollama")));
  assert.equal(via.output_text, mockAnswer(3));
  const streamed = async (target: Target) =>
    collect(
      await openaiFor(t, target, key).responses.create({
        model: "llama3",
        input: "Say hi",
        stream: true,
      }),
    );
  const events = await streamed("gateway");
  assert.deepEqual(stable(events), stable(await streamed("ollama")));
  const text = events.map((e) => e.type === "response.output_text.delta" ? e.delta : "").join("");
  assert.equal(text, mockAnswer(3));
  assert.equal(events.at(-1)!.type, "response.completed");
  assert.deepEqual((await t.usageWhen(id, (u) => u.today.tokens >= 20)).today, {
    requests: 2,
    prompt_tokens: 14,
    completion_tokens: 6,
    tokens: 20,
  });
});

gatewayTest("OpenAI SDK: a bad key surfaces as AuthenticationError", async (t) => {
  const err = await caught(() =>
    openaiFor(t, "gateway", "sk-not-a-key").chat.completions.create({ model: "llama3", messages })
  );
  assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
  assert.equal(err.status, 401);
  assert.equal(err.code, "invalid_api_key");
  assert.match(err.message, /Invalid API key/);
});

gatewayTest(
  "OpenAI SDK: a quota 429 is a RateLimitError naming the limit, not retried, not charged twice",
  async (t) => {
    const { key, id } = await t.createKey({ daily_request_limit: 1 });
    const counter = countingFetch();
    const client = openaiFor(t, "gateway", key, { fetch: counter.fetch });
    await client.chat.completions.create({ model: "llama3", messages });
    const err = await caught(() => client.chat.completions.create({ model: "llama3", messages }));
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.match(err.message, /Daily request limit reached \(1 request per day\)/);
    assert.equal(err.code, "daily_request_limit_exceeded");
    assert.equal(err.headers?.get("x-should-retry"), "false");
    // The SDK retries 429s by default (twice); x-should-retry: false stops it.
    assert.equal(counter.calls(), 2);
    assert.equal(t.mock.inferenceCount(), 1);
    assert.equal((await t.usage(id)).today.requests, 1);
  },
);

gatewayTest(
  "OpenAI SDK: each retry of an Ollama 5xx takes a request unit, and no tokens",
  async (t) => {
    // A 500 (a model that fails to load) kept the box busy: the unit stays taken.
    const { key, id } = await t.createKey({ daily_request_limit: 2 });
    t.mock.set({ failWith: { status: 500, error: "runner crashed" } });
    const counter = countingFetch();
    const client = openaiFor(t, "gateway", key, { fetch: counter.fetch, maxRetries: 2 });
    const err = await caught(() => client.chat.completions.create({ model: "llama3", messages }));
    // Two attempts use the key's two requests; the third is refused and not retried.
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal(counter.calls(), 3);
    assert.equal(t.mock.inferenceCount(), 2);
    const usage = await t.usage(id);
    assert.deepEqual([usage.today.requests, usage.today.tokens], [2, 0]);
  },
);

gatewayTest("OpenAI SDK: an unknown model is a NotFoundError with Ollama's message", async (t) => {
  const { key } = await t.createKey();
  const err = await caught(() =>
    openaiFor(t, "gateway", key).chat.completions.create({ model: "nope", messages })
  );
  assert.ok(err instanceof OpenAI.NotFoundError, String(err));
  assert.match(err.message, /model 'nope' not found/);
});
