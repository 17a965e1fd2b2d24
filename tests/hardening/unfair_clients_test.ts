/**
 * A key holder who does not play fair, against a mock that reads bodies like Ollama's Go server
 * (case-insensitive keys, the last one winning) and counts everything rendered into the prompt.
 * Whatever they send, the key's limit holds, the box's guards hold, and nothing is free.
 * @module
 */
import assert from "node:assert/strict";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";
import { boundOf, estimateOf } from "../support/prompts.ts";
import { estimateTokens } from "../../core/tokens.ts";

const messages = [{ role: "user", content: "hi" }];

/** Posts and reads the whole answer. */
async function send(t: TestGateway, path: string, key: string, body: unknown) {
  const res = await t.post(path, key, body);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Each generating route, with a body whose generation limit is small in the spelling the
 * gateway reads and huge in a later spelling Ollama also reads. */
const CASE_VARIANT_ATTACKS: Array<[string, Record<string, unknown>]> = [
  ["/api/chat", {
    model: "llama3",
    stream: false,
    messages,
    options: { num_predict: 5 },
    OPTIONS: { num_predict: 2000 },
  }],
  ["/api/generate", {
    model: "llama3",
    stream: false,
    prompt: "hi",
    options: { num_predict: 5 },
    Options: { num_predict: 2000 },
  }],
  ["/v1/chat/completions", { model: "llama3", messages, max_tokens: 5, MAX_TOKENS: 2000 }],
  ["/v1/completions", { model: "llama3", prompt: "hi", max_tokens: 5, Max_Tokens: 2000 }],
  ["/v1/messages", { model: "llama3", messages, max_tokens: 5, MAX_TOKENS: 2000 }],
  ["/v1/responses", {
    model: "llama3",
    input: "hi",
    max_output_tokens: 5,
    MAX_OUTPUT_TOKENS: 2000,
  }],
  // U+212A KELVIN SIGN folds to k in Go: "max_to\u212Aens" binds max_tokens.
  ["/v1/chat/completions", { model: "llama3", messages, max_tokens: 5, "max_to\u212Aens": 2000 }],
];

gatewayTest(
  "case variants of the generation limit cannot raise it above the key's budget, on every route",
  async (t) => {
    t.mock.set({ chunks: 5000, promptTokens: "rendered" });
    for (const [path, body] of CASE_VARIANT_ATTACKS) {
      const { key, id } = await t.createKey({ daily_token_limit: 300 });
      const res = await send(t, path, key, body);
      assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 200)}`);
      const decoded = t.mock.requests.at(-1)!.decoded!;
      // What Ollama ran with: the later spelling, folded in, is the one the gateway capped.
      assert.ok(decoded.numPredict <= 300, `${path}: num_predict ${decoded.numPredict}`);
      const used = (await t.usage(id)).today.tokens;
      assert.ok(used <= 300, `${path}: used ${used} of 300`);
    }
  },
);

gatewayTest(
  "a case variant cannot switch off the usage the gateway asked Ollama for",
  async (t) => {
    const { key, id } = await t.createKey({ daily_token_limit: 10_000 });
    const res = await send(t, "/v1/chat/completions", key, {
      model: "llama3",
      messages,
      stream: true,
      stream_options: { include_usage: true },
      STREAM_OPTIONS: { INCLUDE_USAGE: false },
    });
    assert.equal(res.status, 200);
    const decoded = t.mock.requests.at(-1)!.decoded!.request as {
      stream_options?: { include_usage?: boolean };
    };
    assert.equal(decoded.stream_options?.include_usage, true);
    // Charged by Ollama's counts (7 + 3), not by an estimate of the visible text.
    assert.deepEqual((await t.usage(id)).today, {
      requests: 1,
      prompt_tokens: 7,
      completion_tokens: 3,
      tokens: 10,
    });
    // The client did not ask for usage in the end: it sees none.
    assert.doesNotMatch(res.text, /"usage"/);
  },
);

gatewayTest("a case variant of the model is the model that is checked", async (t) => {
  const { key } = await t.createKey();
  const res = await send(t, "/api/chat", key, {
    model: "llama3",
    MODEL: "gpt-oss:120b-cloud",
    messages,
    stream: false,
  });
  assert.equal(res.status, 403);
  assert.match(JSON.parse(res.text).error, /cloud models are disabled/);
  assert.equal(t.mock.inferenceCount(), 0);
});

const TOOLS = [{
  type: "function",
  function: {
    name: "lookup",
    description: "x".repeat(6000),
    parameters: { type: "object", properties: { q: { type: "string" } } },
  },
}];

gatewayTest(
  "tools, system prompts and context count before admission: parallel requests never overshoot",
  async (t) => {
    t.mock.set({ promptTokens: "rendered", firstByteDelayMs: 5 });
    const { key, id } = await t.createKey({ daily_token_limit: 5000 });
    const bodies = [
      // A tiny generation limit keeps the output's reservation small: only the prompt matters.
      {
        path: "/api/chat",
        body: {
          model: "llama3",
          stream: false,
          messages,
          tools: TOOLS,
          options: { num_predict: 1 },
        },
      },
      {
        path: "/v1/chat/completions",
        body: { model: "llama3", messages, tools: TOOLS, max_tokens: 1 },
      },
      {
        path: "/api/generate",
        body: {
          model: "llama3",
          stream: false,
          prompt: "hi",
          system: "s".repeat(6000),
          context: Array.from({ length: 1500 }, (_, i) => i),
          options: { num_predict: 1 },
        },
      },
      {
        path: "/v1/responses",
        body: {
          model: "llama3",
          input: [
            { type: "function_call", call_id: "c1", name: "lookup", arguments: "y".repeat(6000) },
            { type: "function_call_output", call_id: "c1", output: "z".repeat(6000) },
            { role: "user", content: "hi" },
          ],
          max_output_tokens: 1,
        },
      },
    ];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const { path, body } = bodies[i % bodies.length];
        return send(t, path, key, body);
      }),
    );
    assert.ok(results.some((r) => r.status === 200), "some requests fit");
    assert.ok(results.some((r) => r.status === 429), "the rest are refused");
    const used = (await t.usage(id)).today.tokens;
    assert.ok(used <= 5000, `used ${used} of 5000`);
  },
);

gatewayTest(
  "an image costs its fixed price at admission, however small its bytes",
  async (t) => {
    t.mock.set({ promptTokens: "rendered" });
    // A 1×1 PNG: 68 bytes of base64, 256 tokens for the mock's vision model.
    const png =
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    const { key, id } = await t.createKey({ daily_token_limit: 2000 });
    const body = {
      model: "llama3",
      stream: false,
      messages: [{ role: "user", content: "hi", images: [png, png] }],
    };
    const res = await send(t, "/api/chat", key, body);
    assert.equal(res.status, 429, "two images (4,096 tokens at most) do not fit 2,000");
    assert.equal(t.mock.inferenceCount(), 0);
    assert.equal((await t.usage(id)).today.requests, 0);
  },
);

gatewayTest(
  "without counts from Ollama, the charge covers everything sent, not the visible text",
  async (t) => {
    t.mock.set({ omitPromptCount: true });
    const { key, id } = await t.createKey();
    const body = { model: "llama3", prompt: "hi", system: "s ".repeat(3000) };
    const res = await send(t, "/api/generate", key, body);
    assert.equal(res.status, 200);
    const usage = (await t.usage(id)).today;
    assert.equal(usage.prompt_tokens, estimateOf(body));
    assert.ok(usage.prompt_tokens > 3000, `charged ${usage.prompt_tokens}`);

    // Legacy /api/embeddings never reports counts: the later PROMPT is what Ollama embeds.
    const words = "word ".repeat(3000);
    const embedded = await send(t, "/api/embeddings", key, {
      model: "all-minilm",
      prompt: "hi",
      PROMPT: words,
    });
    assert.equal(embedded.status, 200);
    const after = (await t.usage(id)).today;
    assert.equal(after.prompt_tokens - usage.prompt_tokens, estimateOf({ prompt: words }));
  },
);

gatewayTest(
  "a client that leaves before Ollama's first byte still pays its request and its prompt",
  async (t) => {
    t.mock.set({ firstByteDelayMs: 300 });
    const { key, id } = await t.createKey({ daily_request_limit: 1 });
    const body = { model: "llama3", stream: false, messages };
    const aborter = new AbortController();
    const leaving = fetch(t.gateway.proxyUrl + "/api/chat", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: aborter.signal,
    }).catch(() => null);
    await new Promise((r) => setTimeout(r, 100));
    aborter.abort();
    await leaving;
    await t.mock.idle();
    const usage = await t.usageWhen(id, (u) => u.today.prompt_tokens > 0);
    assert.equal(usage.today.requests, 1);
    assert.equal(usage.today.prompt_tokens, estimateOf(body));
    const again = await send(t, "/api/chat", key, body);
    assert.equal(again.status, 429);
  },
);

gatewayTest("a model that fails to load keeps the request unit taken", async (t) => {
  t.mock.set({ failWith: { status: 500, error: "model failed to load", phase: "load" } });
  const { key, id } = await t.createKey({ daily_request_limit: 1 });
  const body = { model: "llama3", stream: false, messages };
  assert.equal((await send(t, "/api/chat", key, body)).status, 500);
  assert.equal((await send(t, "/api/chat", key, body)).status, 429);
  assert.equal(t.mock.inferenceCount(), 1);
  assert.deepEqual([(await t.usage(id)).today.requests, (await t.usage(id)).today.tokens], [1, 0]);
});

gatewayTest("an unknown model gives the request unit back (Ollama did no work)", async (t) => {
  const { key, id } = await t.createKey({ daily_request_limit: 1 });
  const body = { model: "nope", stream: false, messages };
  assert.equal((await send(t, "/api/chat", key, body)).status, 404);
  assert.equal((await t.usage(id)).today.requests, 0);
});

gatewayTest(
  "keep_alive and num_ctx are clamped so one key cannot hold or reload the box",
  async (t) => {
    const { key } = await t.createKey();
    const sent = async (extra: Record<string, unknown>) => {
      const res = await send(t, "/api/chat", key, {
        model: "llama3",
        stream: false,
        messages,
        ...extra,
      });
      assert.equal(res.status, 200, res.text);
      return t.mock.requests.at(-1)!.decoded!;
    };
    assert.equal((await sent({ keep_alive: -1 })).keepAlive, 1800);
    assert.equal((await sent({ keep_alive: "8760h" })).keepAlive, 1800);
    assert.equal((await sent({ KEEP_ALIVE: "-1s" })).keepAlive, 1800);
    assert.equal((await sent({ keep_alive: "10m" })).keepAlive, 600);
    // Unloading a model others use: Ollama's default instead.
    assert.equal((await sent({ keep_alive: 0 })).keepAlive, undefined);
    assert.equal((await sent({ keep_alive: "0s" })).keepAlive, undefined);
    const big = await sent({ options: { num_ctx: 1048576, num_gpu: 0, num_thread: 1 } });
    assert.equal(big.options.num_ctx, 32768);
    assert.equal("num_gpu" in big.options, false);
    assert.equal("num_thread" in big.options, false);

    // An admin-fixed context per model: every client shares one runner.
    const put = await t.admin("/api/settings", {
      method: "PUT",
      body: JSON.stringify({
        num_ctx_by_model: { "llama3:latest": 8192 },
        keep_alive_max_seconds: 60,
      }),
    });
    assert.equal(put.status, 200, await put.clone().text());
    await put.body?.cancel();
    assert.equal((await sent({ options: { num_ctx: 2048 } })).options.num_ctx, 8192);
    assert.equal((await sent({ keep_alive: "5m" })).keepAlive, 60);
  },
);

gatewayTest(
  "cloud models, web search, template overrides and render-only are refused",
  async (t) => {
    const { key } = await t.createKey();
    const cases: Array<[string, Record<string, unknown>, number, RegExp]> = [
      ["/api/chat", { model: "qwen3:cloud", stream: false, messages }, 403, /cloud models/],
      ["/v1/chat/completions", { model: "gpt-oss:120b-cloud", messages }, 403, /cloud models/],
      [
        "/v1/responses",
        { model: "llama3", input: "hi", tools: [{ type: "web_search" }] },
        403,
        /web_search/,
      ],
      [
        "/v1/responses",
        {
          model: "llama3",
          input: "hi",
          tools: [{ TYPE: "namespace", tools: [{ type: "web_search" }] }],
        },
        403,
        /web_search/,
      ],
      [
        "/v1/messages",
        {
          model: "llama3",
          max_tokens: 10,
          messages,
          tools: [{ type: "web_search_20250305", name: "web_search" }],
        },
        403,
        /web_search/,
      ],
      [
        "/api/generate",
        { model: "llama3", prompt: "hi", template: "{{ .Prompt }}{{ .Prompt }}" },
        403,
        /template/,
      ],
      [
        "/api/chat",
        { model: "llama3", messages, _DEBUG_RENDER_ONLY: true },
        400,
        /_debug_render_only/,
      ],
    ];
    for (const [path, body, status, message] of cases) {
      const res = await send(t, path, key, body);
      assert.equal(res.status, status, `${path} ${JSON.stringify(body).slice(0, 80)}: ${res.text}`);
      assert.match(res.text, message);
    }
    assert.equal(t.mock.inferenceCount(), 0);
    // The admin can allow them.
    const put = await t.admin("/api/settings", {
      method: "PUT",
      body: JSON.stringify({ allow_web_search: true, allow_template_override: true }),
    });
    assert.equal(put.status, 200, await put.clone().text());
    await put.body?.cancel();
    assert.equal((await send(t, "/v1/responses", key, cases[2][1])).status, 200);
    assert.equal((await send(t, "/api/generate", key, cases[5][1])).status, 200);
  },
);

gatewayTest(
  "dense text hidden behind easy text is bounded, not extrapolated: it cannot slip under the limit",
  async (t) => {
    // 8 KiB of 24-character runs and 60 KiB of dense text: cl100k counts 47,392 tokens.
    const easy = ("abcdefghijklmnopqrstuvw ").repeat(342);
    const dense = Array.from(
      { length: 60_000 },
      (_, i) => String.fromCharCode(33 + (i * 7919) % 94),
    )
      .join("");
    const { key } = await t.createKey({ daily_token_limit: 20_000 });
    const res = await send(t, "/api/chat", key, {
      model: "llama3",
      stream: false,
      messages: [{ role: "user", content: easy + dense }],
    });
    assert.equal(res.status, 429);
    assert.equal(t.mock.inferenceCount(), 0);
  },
);

gatewayTest("a model name is bounded before anything is stored or logged", async (t) => {
  const { key, id } = await t.createKey({ daily_request_limit: 1 });
  for (let i = 0; i < 3; i++) {
    const res = await send(t, "/api/chat", key, {
      model: "m".repeat(1_000_000),
      stream: false,
      messages,
    });
    assert.equal(res.status, 400);
    assert.match(JSON.parse(res.text).error, /model: must be at most 600 characters/);
  }
  assert.equal(t.mock.inferenceCount(), 0);
  assert.equal((await t.usage(id)).today.requests, 0);
  for (const line of t.logs) assert.ok(line.length < 10_000, `a log line of ${line.length}`);
});

gatewayTest(
  "tokens held by a running stream are reported as reserved, with a short Retry-After",
  async (t) => {
    t.mock.set({ chunks: 1000, chunkDelayMs: 20 });
    const { key } = await t.createKey({ daily_token_limit: 2000 });
    const stream = await t.post("/api/chat", key, { model: "llama3", messages });
    assert.equal(stream.status, 200);
    const refused = await send(t, "/api/chat", key, { model: "llama3", stream: false, messages });
    assert.equal(refused.status, 429);
    const message = JSON.parse(refused.text).error;
    assert.match(message, /reserved by requests still running/);
    assert.doesNotMatch(message, /reached/);
    assert.ok(Number(refused.headers.get("retry-after")) <= 5);
    assert.equal(refused.headers.get("x-should-retry"), null);
    await stream.body?.cancel();
  },
);

gatewayTest(
  "the reservation of a prompt uses its bound, which is at least Ollama's count",
  async (t) => {
    // The mock's rendered count is a quarter of the bytes; the bound counts every byte.
    t.mock.set({ promptTokens: "rendered" });
    const body = { model: "llama3", stream: false, messages, tools: TOOLS };
    const { key, id } = await t.createKey({ daily_token_limit: 100_000 });
    assert.equal((await send(t, "/api/chat", key, body)).status, 200);
    const charged = (await t.usage(id)).today.prompt_tokens;
    assert.ok(charged <= boundOf(body), `Ollama counted ${charged}, bound ${boundOf(body)}`);
    assert.ok(charged > 1000, "the tools were counted by Ollama");
  },
);

/** cl100k's special tokens, which js-tiktoken refuses to encode unless told otherwise. */
const SPECIAL = "hi <|endoftext|> there <|fim_prefix|><|fim_middle|><|fim_suffix|><|endofprompt|>";

Deno.test("text that spells a tokenizer's special tokens is estimated as text, never an error", () => {
  const plain = SPECIAL.replaceAll("|", "!");
  assert.ok(estimateTokens(SPECIAL) >= estimateTokens(plain) - 10, "not cheaper than plain text");
  assert.ok(estimateTokens(SPECIAL) > 5);
});

gatewayTest(
  "a prompt spelling special tokens, where Ollama reports no count, is answered and charged",
  async (t) => {
    // Both answers need the gateway's own estimate: legacy embeddings never report a count, and
    // a chat answer without prompt_eval_count is charged the estimated prompt.
    const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
      ["/api/embeddings", { model: "all-minilm", prompt: SPECIAL }, {}],
      ["/api/chat", {
        model: "llama3",
        stream: false,
        messages: [{ role: "user", content: SPECIAL }],
      }, { omitPromptCount: true }],
    ];
    for (const [path, body, mock] of cases) {
      t.mock.set(mock);
      const { key, id } = await t.createKey({ daily_token_limit: 100_000 });
      const res = await send(t, path, key, body);
      assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 200)}`);
      const charged = (await t.usage(id)).today.prompt_tokens;
      assert.ok(charged >= estimateOf({ prompt: SPECIAL }) / 2, `${path}: charged ${charged}`);
      assert.ok(charged > 5, `${path}: charged ${charged}`);
    }
  },
);
