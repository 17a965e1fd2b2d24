import assert from "node:assert/strict";
import { boundOf, estimateOf } from "../support/prompts.ts";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";

// /v1/messages (Anthropic Messages) and /v1/responses (OpenAI Responses): counted like every
// inference route, with tokens from their own usage fields.
const messages = [{ role: "user", content: "Say hi" }];
const anthropic = { model: "llama3", max_tokens: 100, messages };
const responses = { model: "llama3", input: "Say hi" };

type Sent = Record<string, unknown>;
const lastSent = (t: TestGateway) => t.mock.requests.at(-1)!.body as Sent;

async function until(check: () => boolean | Promise<boolean>, what: string) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The SSE frames of a stream as [event, parsed data] pairs. */
function frames(text: string): Array<[string, Record<string, unknown>]> {
  return text.split("\n\n").filter(Boolean).map((frame) => {
    const [event, data] = frame.split("\n");
    return [event.slice("event: ".length), JSON.parse(data.slice("data: ".length))];
  });
}

for (
  const [path, body] of [
    ["/v1/messages", anthropic],
    ["/v1/messages", { ...anthropic, stream: true }],
    ["/v1/responses", responses],
    ["/v1/responses", { ...responses, stream: true }],
  ] as const
) {
  const streamed = "stream" in body ? "streamed" : "not streamed";
  gatewayTest(`exact token counts on ${path}, ${streamed}, from its usage fields`, async (t) => {
    const { key, id } = await t.createKey();
    const res = await t.post(path, key, body);
    assert.equal(res.status, 200);
    await res.text();
    // The mock reports 7 input tokens and one output token per chunk (3 chunks).
    assert.deepEqual((await t.usage(id)).today, {
      requests: 1,
      prompt_tokens: 7,
      completion_tokens: 3,
      tokens: 10,
    });
  });
}

gatewayTest("a /v1/messages stream reaches the client as Ollama sent it", async (t) => {
  const { key } = await t.createKey({ daily_token_limit: 10_000 });
  const body = { ...anthropic, stream: true };
  const res = await t.post("/v1/messages", key, body);
  const direct = await fetch(t.mock.url + "/v1/messages", {
    method: "POST",
    body: JSON.stringify({ ...body, max_tokens: lastSent(t).max_tokens as number }),
  });
  for (const name of ["content-type", "cache-control"]) {
    assert.equal(res.headers.get(name), direct.headers.get(name), name);
  }
  const ids = (s: string) => s.replaceAll(/"msg_[0-9a-f]+"/g, '"msg"');
  assert.equal(ids(await res.text()), ids(await direct.text()));
});

gatewayTest("a /v1/responses stream reaches the client as Ollama sent it", async (t) => {
  const { key } = await t.createKey();
  const body = { ...responses, stream: true };
  const res = await t.post("/v1/responses", key, body);
  const direct = await fetch(t.mock.url + "/v1/responses", {
    method: "POST",
    body: JSON.stringify(body),
  });
  for (const name of ["content-type", "cache-control"]) {
    assert.equal(res.headers.get(name), direct.headers.get(name), name);
  }
  const stable = (s: string) =>
    s.replaceAll(/"(resp|msg)_\d+"/g, '"$1"').replaceAll(/"(created_at|completed_at)":\d+/g, "");
  const text = await res.text();
  assert.equal(stable(text), stable(await direct.text()));
  assert.deepEqual(frames(text).at(-1)![0], "response.completed");
});

gatewayTest("/v1/messages: max_tokens is lowered to the tokens the key has left", async (t) => {
  const limited = await t.createKey({ daily_token_limit: 30 });
  const free = await t.createKey();
  t.mock.set({ chunks: 50 });
  const res = await t.post("/v1/messages", limited.key, { ...anthropic, max_tokens: 500 });
  const out = await res.json();
  const cap = lastSent(t).max_tokens as number;
  assert.ok(cap > 0 && cap <= 25, String(cap));
  assert.equal(out.stop_reason, "max_tokens");
  assert.equal(out.usage.output_tokens, cap);
  await (await t.post("/v1/messages", free.key, { ...anthropic, max_tokens: 500 })).text();
  assert.equal(lastSent(t).max_tokens, 500);
});

gatewayTest(
  "/v1/responses: max_output_tokens is set from the budget, or lowered to it",
  async (t) => {
    const { key, id } = await t.createKey({ daily_token_limit: 40 });
    // Ollama counts the prompt as the gateway bounds it, so the budget is used exactly.
    const prompt = boundOf(responses);
    t.mock.set({ chunks: 50, promptTokens: prompt });
    const res = await t.post("/v1/responses", key, { ...responses, stream: true });
    await res.text();
    assert.equal(lastSent(t).max_output_tokens, 40 - prompt);
    assert.equal((await t.usage(id)).today.tokens, 40);
    const other = await t.createKey({ daily_token_limit: 100 });
    t.mock.set({ promptTokens: prompt });
    await (await t.post("/v1/responses", other.key, { ...responses, max_output_tokens: 500 }))
      .text();
    assert.equal(lastSent(t).max_output_tokens, 100 - prompt);
    await (await t.post("/v1/responses", other.key, { ...responses, max_output_tokens: 2 })).text();
    assert.equal(lastSent(t).max_output_tokens, 2);
  },
);

gatewayTest(
  "quota refusals: Anthropic-shaped on /v1/messages, OpenAI-shaped on /v1/responses",
  async (t) => {
    const { key } = await t.createKey({ daily_request_limit: 1 });
    assert.equal((await t.post("/v1/responses", key, responses)).status, 200);
    const refused = await t.post("/v1/messages", key, anthropic);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("x-should-retry"), "false");
    assert.ok(refused.headers.get("retry-after"));
    const body = await refused.json();
    assert.equal(body.type, "error");
    assert.equal(body.error.type, "rate_limit_error");
    assert.match(body.error.message, /Daily request limit reached \(1 request per day\)/);
    const openai = await (await t.post("/v1/responses", key, responses)).json();
    assert.equal(openai.error.code, "daily_request_limit_exceeded");
    assert.match(openai.error.message, /Daily request limit reached/);
    assert.equal(t.mock.inferenceCount(), 1);
  },
);

gatewayTest("a prompt over the token budget is refused on both routes before Ollama", async (t) => {
  const { key } = await t.createKey({ daily_token_limit: 5 });
  const long = "word ".repeat(50);
  const a = await t.post("/v1/messages", key, {
    ...anthropic,
    messages: [{ role: "user", content: [{ type: "text", text: long }] }],
  });
  assert.equal(a.status, 429);
  assert.equal((await a.json()).error.type, "rate_limit_error");
  const r = await t.post("/v1/responses", key, { model: "llama3", instructions: long });
  assert.equal(r.status, 429);
  await r.body?.cancel();
  assert.equal(t.mock.inferenceCount(), 0);
});

gatewayTest(
  "invalid /v1/messages bodies get Anthropic-style 400s and never reach Ollama",
  async (t) => {
    const { key, id } = await t.createKey();
    for (const body of [{ model: "llama3", messages }, { ...anthropic, max_tokens: 0 }, "{"]) {
      const res = await t.post("/v1/messages", key, body);
      assert.equal(res.status, 400);
      const err = await res.json();
      assert.equal(err.type, "error");
      assert.equal(err.error.type, "invalid_request_error");
    }
    const res = await t.post("/v1/responses", key, { model: "llama3", input: 42 });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error.type, "invalid_request_error");
    assert.equal(t.mock.inferenceCount(), 0);
    assert.equal((await t.usage(id)).today.requests, 0);
  },
);

gatewayTest("Ollama's own errors pass through in each route's shape, uncharged", async (t) => {
  const { key, id } = await t.createKey();
  const a = await t.post("/v1/messages", key, { ...anthropic, model: "nope", stream: true });
  assert.equal(a.status, 404);
  const err = await a.json();
  assert.equal(err.error.type, "not_found_error");
  assert.match(err.request_id, /^req_/);
  const r = await t.post("/v1/responses", key, { ...responses, model: "nope" });
  assert.equal(r.status, 404);
  assert.equal((await r.json()).error.message, "model 'nope' not found");
  assert.equal((await t.usage(id)).today.requests, 0);
});

gatewayTest(
  "leaving a /v1/messages stream aborts Ollama and charges what was generated",
  async (t) => {
    t.mock.set({ hang: true, chunkDelayMs: 20 });
    const { key, id } = await t.createKey();
    const res = await t.post("/v1/messages", key, { ...anthropic, stream: true });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while ((text.match(/event: content_block_delta/g) ?? []).length < 3) {
      text += (await reader.read()).value ?? "";
    }
    await reader.cancel();
    await until(() => t.mock.requests.at(-1)?.aborted === true, "the upstream abort");
    await until(async () => (await t.usage(id)).today.completion_tokens >= 3, "partial usage");
    const usage = await t.usage(id);
    assert.equal(usage.today.requests, 1);
    assert.equal(usage.today.prompt_tokens, estimateOf(anthropic));
  },
);

gatewayTest(
  "a /v1/responses stream Ollama breaks off is charged for its delivered deltas",
  async (t) => {
    t.mock.set({ chunks: 6, failMidStreamAfter: 4 });
    const { key, id } = await t.createKey();
    const res = await t.post("/v1/responses", key, { ...responses, stream: true });
    const events = frames(await res.text()).map(([event]) => event);
    assert.equal(events.filter((e) => e === "response.output_text.delta").length, 4);
    assert.ok(!events.includes("response.completed"));
    // Ollama just stops; the gateway ends the stream with an `error` event the SDKs raise on.
    assert.equal(events.at(-1), "error");
    const usage = await t.usage(id);
    assert.equal(usage.today.completion_tokens, 4);
    assert.equal(usage.today.requests, 1);
  },
);
