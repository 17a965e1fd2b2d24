import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { gatewayTest } from "../support/gateway.ts";
import { mockAnswer } from "../support/mock_ollama.ts";
import { anthropicFor, caught, collect, countingFetch, stable, type Target } from "./clients.ts";

// The Anthropic SDK on /v1/messages (Ollama's Anthropic compatibility), key as x-api-key.
const request = {
  model: "llama3",
  max_tokens: 100,
  messages: [{ role: "user" as const, content: "Say hi" }],
};

gatewayTest("Anthropic SDK: a message is the same through the gateway, and counted", async (t) => {
  const { key, id } = await t.createKey();
  const call = (target: Target) => anthropicFor(t, target, key).messages.create(request);
  const via = await call("gateway");
  assert.deepEqual(stable(via), stable(await call("ollama")));
  assert.deepEqual(via.content, [{ type: "text", text: mockAnswer(3) }]);
  assert.equal((await t.usageWhen(id, (u) => u.today.tokens >= 10)).today.tokens, 10);
});

gatewayTest("Anthropic SDK: a streamed message is the same through the gateway", async (t) => {
  const { key, id } = await t.createKey();
  const events = async (target: Target) =>
    collect(await anthropicFor(t, target, key).messages.create({ ...request, stream: true }));
  const via = await events("gateway");
  assert.deepEqual(stable(via), stable(await events("ollama")));
  assert.deepEqual(via.map((e) => e.type).slice(-2), ["message_delta", "message_stop"]);
  // The SDK's stream helper assembles the same final message.
  const final = await anthropicFor(t, "gateway", key).messages.stream(request).finalMessage();
  assert.deepEqual(final.content, [{ type: "text", text: mockAnswer(3) }]);
  assert.equal(final.usage.output_tokens, 3);
  assert.deepEqual((await t.usageWhen(id, (u) => u.today.tokens >= 20)).today, {
    requests: 2,
    prompt_tokens: 14,
    completion_tokens: 6,
    tokens: 20,
  });
});

gatewayTest("Anthropic SDK: gateway errors arrive as its typed errors", async (t) => {
  const { key } = await t.createKey({ daily_request_limit: 1 });
  const counter = countingFetch();
  const client = anthropicFor(t, "gateway", key, { fetch: counter.fetch });

  const unauthorized = await caught(() =>
    anthropicFor(t, "gateway", "sk-not-a-key").messages.create(request)
  );
  assert.ok(unauthorized instanceof Anthropic.AuthenticationError, String(unauthorized));
  assert.equal(unauthorized.type, "authentication_error");

  const invalid = await caught(() => client.messages.create({ ...request, max_tokens: 0 }));
  assert.ok(invalid instanceof Anthropic.BadRequestError, String(invalid));
  assert.equal(invalid.type, "invalid_request_error");
  assert.match(invalid.apiMessage ?? "", /max_tokens/);

  await client.messages.create(request);
  const before = counter.calls();
  // This SDK honours Retry-After however long (here hours): only x-should-retry stops it, and
  // the signal turns a regression into a failure instead of a test that sleeps until midnight.
  const quota = await caught(() =>
    client.messages.create(request, { signal: AbortSignal.timeout(5000) })
  );
  assert.ok(quota instanceof Anthropic.RateLimitError, String(quota));
  assert.equal(quota.type, "rate_limit_error");
  assert.match(quota.apiMessage ?? "", /^Daily request limit reached \(1 request per day\)/);
  // x-should-retry: false keeps the SDK from retrying a quota refusal.
  assert.equal(counter.calls() - before, 1);
  assert.equal(t.mock.inferenceCount(), 1);
});

gatewayTest("Anthropic SDK: an unknown model is its NotFoundError, from Ollama", async (t) => {
  const { key, id } = await t.createKey();
  const err = await caught(() =>
    anthropicFor(t, "gateway", key).messages.create({ ...request, model: "nope" })
  );
  assert.ok(err instanceof Anthropic.NotFoundError, String(err));
  assert.equal(err.type, "not_found_error");
  assert.equal(err.apiMessage, "model 'nope' not found");
  assert.equal((await t.usage(id)).today.requests, 0);
});
