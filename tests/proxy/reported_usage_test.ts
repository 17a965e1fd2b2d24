/**
 * Ollama's usage counts are trusted only when they are token counts: a negative one would
 * credit the key, `1e308` block it for the month, a fraction be stored. Such a count is
 * estimated instead, on every route, streamed or not.
 * @module
 */
import assert from "node:assert/strict";
import { isTokenCount, usageOfBody } from "../../proxy/usage.ts";
import { gatewayTest } from "../support/gateway.ts";

const messages = [{ role: "user", content: "Say hi" }];
const anthropic = { model: "llama3", max_tokens: 100, messages };

/** Requests on every counted route; `generated`: whether each one generates 3 tokens. */
const REQUESTS: Array<[path: string, body: Record<string, unknown>, generated: boolean]> = [
  ["/api/chat", { model: "llama3", messages, stream: false }, true],
  ["/api/chat", { model: "llama3", messages }, true],
  ["/v1/chat/completions", { model: "llama3", messages }, true],
  ["/v1/chat/completions", { model: "llama3", messages, stream: true }, true],
  ["/v1/messages", anthropic, true],
  ["/v1/messages", { ...anthropic, stream: true }, true],
  ["/v1/responses", { model: "llama3", input: "Say hi" }, true],
  ["/v1/responses", { model: "llama3", input: "Say hi", stream: true }, true],
  ["/api/embed", { model: "all-minilm", input: "Say hi" }, false],
  ["/v1/embeddings", { model: "all-minilm", input: "Say hi" }, false],
];

for (const bad of [-2_000_000, 1e308, 3.5]) {
  gatewayTest(`a reported prompt count of ${bad} is estimated on every route`, async (t) => {
    t.mock.set({ promptTokens: bad });
    const { key, id } = await t.createKey({ daily_token_limit: 1_000_000 });
    for (const [path, body] of REQUESTS) {
      const res = await t.post(path, key, body);
      assert.equal(res.status, 200, path);
      await res.text();
    }
    const generating = REQUESTS.filter(([, , generated]) => generated).length;
    const usage = await t.usageWhen(id, (u) => u.today.completion_tokens >= 3 * generating);
    assert.equal(usage.today.requests, REQUESTS.length);
    assert.equal(usage.today.completion_tokens, 3 * generating);
    const prompt = usage.today.prompt_tokens;
    assert.ok(Number.isSafeInteger(prompt), `prompt tokens ${prompt}`);
    assert.ok(prompt >= REQUESTS.length && prompt < 100 * REQUESTS.length, `prompt ${prompt}`);
    // The key still has its budget: nothing was credited or blocked.
    assert.ok(usage.today.tokens < 10_000, JSON.stringify(usage));
  });
}

Deno.test("a token count is a non-negative safe integer, nothing else", () => {
  for (const ok of [0, 1, 7, 2 ** 53 - 1]) assert.equal(isTokenCount(ok), true, String(ok));
  for (const bad of [-1, -2_000_000, 3.5, 1e308, Infinity, NaN, 2 ** 53, "7", null, true, [], {}]) {
    assert.equal(isTokenCount(bad), false, String(bad));
  }
});

Deno.test("usageOfBody reads every shape and names what it could not use", () => {
  assert.deepEqual(usageOfBody({ prompt_eval_count: 7, eval_count: 3 }), {
    promptTokens: 7,
    completionTokens: 3,
  });
  assert.deepEqual(usageOfBody({ prompt_eval_count: -5, eval_count: 3.5 }), {
    promptTokens: null,
    completionTokens: null,
    invalid: ["prompt_eval_count", "eval_count"],
  });
  assert.deepEqual(usageOfBody({ usage: { prompt_tokens: 1e308, completion_tokens: 2 } }), {
    promptTokens: null,
    completionTokens: 2,
    invalid: ["prompt_tokens"],
  });
  // Embeddings report no completion: none was generated. A bad one is not taken for zero.
  assert.deepEqual(usageOfBody({ usage: { prompt_tokens: 4, total_tokens: 4 } }), {
    promptTokens: 4,
    completionTokens: 0,
  });
  assert.deepEqual(usageOfBody({ usage: { prompt_tokens: 4, completion_tokens: -1 } }), {
    promptTokens: 4,
    completionTokens: null,
    invalid: ["completion_tokens"],
  });
  assert.deepEqual(usageOfBody({ usage: { input_tokens: "9", output_tokens: 2 } }), {
    promptTokens: null,
    completionTokens: 2,
    invalid: ["input_tokens"],
  });
  // Absent counts are missing, not invalid (a cached prompt, the legacy embeddings route).
  assert.deepEqual(usageOfBody({ eval_count: 3 }), { promptTokens: null, completionTokens: 3 });
});
