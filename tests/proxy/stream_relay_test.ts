/**
 * Streams relayed by a real gateway from an upstream that writes Ollama's own stream bytes in
 * controlled pieces: every event cut across reads, the usage event alone and in pieces. Every
 * format must arrive whole (never hang), and be counted exactly.
 * @module
 */
import assert from "node:assert/strict";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";
import { cutEvents, pointGatewayAt, startScriptedUpstream } from "../support/scripted_upstream.ts";

const messages = [{ role: "user", content: "Say hi" }];
const ZERO = ',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}';
const USAGE_EVENT = /data: \{[^\n]*"choices":\[\][^\n]*\n\n/;

/** Each streamed route: what the client sends, and what the gateway forwards to Ollama. */
const ROUTES = [
  { path: "/api/chat", body: { model: "llama3", messages }, sep: "\n" },
  { path: "/api/generate", body: { model: "llama3", prompt: "Say hi" }, sep: "\n" },
  {
    path: "/v1/chat/completions",
    body: { model: "llama3", messages, stream: true, stream_options: { include_usage: true } },
    sep: "\n\n",
  },
  {
    path: "/v1/completions",
    body: {
      model: "llama3",
      prompt: "Say hi",
      stream: true,
      stream_options: { include_usage: true },
    },
    sep: "\n\n",
  },
  {
    path: "/v1/messages",
    body: { model: "llama3", max_tokens: 100, messages, stream: true },
    sep: "\n\n",
  },
  { path: "/v1/responses", body: { model: "llama3", input: "Say hi", stream: true }, sep: "\n\n" },
];

/** Ollama's (the mock's) stream for `body` on `path`, and its content type. */
async function ollamaStream(t: TestGateway, path: string, body: unknown) {
  const res = await fetch(t.mock.url + path, { method: "POST", body: JSON.stringify(body) });
  return { contentType: res.headers.get("content-type")!, text: await res.text() };
}

/** Posts through the gateway and reads the whole answer; a hang becomes a failure naming it. */
async function readThrough(t: TestGateway, key: string, path: string, body: unknown) {
  try {
    const res = await fetch(t.gateway.proxyUrl + path, {
      method: "POST",
      headers: { authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 200);
    return await res.text();
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).name === "TimeoutError" ? "hung" : err}`);
  }
}

gatewayTest(
  "every streamed format arrives whole and counted when reads end mid-event and usage comes alone",
  async (t) => {
    const captured = await Promise.all(ROUTES.map((r) => ollamaStream(t, r.path, r.body)));
    const scripts = Object.fromEntries(ROUTES.map((r, i) => [r.path, {
      contentType: captured[i].contentType,
      // Three writes per event: every read ends inside one, and the usage event comes alone.
      writes: cutEvents(captured[i].text, r.sep, 3),
    }]));
    const upstream = startScriptedUpstream(scripts);
    try {
      await pointGatewayAt(t, upstream.url);
      const { key, id } = await t.createKey();
      let tokens = 0;
      for (const [i, route] of ROUTES.entries()) {
        const text = await readThrough(t, key, route.path, route.body);
        assert.equal(text, captured[i].text, `${route.path}: forwarded as it came`);
        tokens += 10;
        const usage = await t.usageWhen(id, (u) => u.today.tokens >= tokens);
        assert.equal(usage.today.tokens, tokens, `${route.path}: Ollama's 7 + 3 tokens`);
      }
      // The SDKs' default: no include_usage. The gateway asks for it and strips it again.
      for (const path of ["/v1/chat/completions", "/v1/completions"]) {
        const route = ROUTES.find((r) => r.path === path)!;
        const { stream_options: _, ...body } = route.body as Record<string, unknown>;
        const text = await readThrough(t, key, path, body);
        const expected = captured[ROUTES.indexOf(route)].text.replaceAll(ZERO, "")
          .replace(USAGE_EVENT, "");
        assert.equal(text, expected, `${path}: usage stripped`);
        assert.ok(text.endsWith("data: [DONE]\n\n"));
        assert.equal(
          (upstream.bodies.get(path) as { stream_options: { include_usage: boolean } })
            .stream_options
            .include_usage,
          true,
        );
        tokens += 10;
        const usage = await t.usageWhen(id, (u) => u.today.tokens >= tokens);
        assert.equal(usage.today.tokens, tokens, `${path}: counted from the stripped usage`);
      }
    } finally {
      upstream.close();
    }
  },
);

gatewayTest(
  "a reported count that is not a token count is estimated, never credited, and logged",
  async (t) => {
    const { contentType, text } = await ollamaStream(t, "/api/chat", {
      model: "llama3",
      messages,
    });
    const upstream = startScriptedUpstream({
      "/api/chat": {
        contentType,
        writes: [text.replace('"prompt_eval_count":7', '"prompt_eval_count":-2000000')],
      },
      "/v1/chat/completions": {
        contentType: "text/event-stream",
        writes: [
          'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n',
          'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1e308}}\n\n',
          "data: [DONE]\n\n",
        ],
      },
    });
    try {
      await pointGatewayAt(t, upstream.url);
      const { key, id } = await t.createKey({ daily_token_limit: 100_000 });
      await readThrough(t, key, "/api/chat", { model: "llama3", messages });
      let usage = await t.usageWhen(id, (u) => u.today.completion_tokens >= 3);
      assert.equal(usage.today.completion_tokens, 3);
      assert.ok(usage.today.prompt_tokens > 0, "the prompt is estimated, not -2,000,000");
      await readThrough(t, key, "/v1/chat/completions", {
        model: "llama3",
        messages,
        stream: true,
      });
      usage = await t.usageWhen(id, (u) => u.today.requests >= 2 && u.today.completion_tokens > 3);
      assert.equal(usage.today.completion_tokens, 3 + 1, "one chunk counted, not 1e308");
      const warnings = t.logs.filter((l) => l.includes("unusable token counts"));
      assert.equal(warnings.length, 2, t.logs.join("\n"));
      assert.match(warnings[0], /prompt_eval_count/);
      assert.match(warnings[1], /completion_tokens/);
      // The ledger rows say the counts are estimated.
      for (const route of ["/api/chat", "/v1/chat/completions"]) {
        const line = t.logs.find((l) => l.includes(`route="${route}"`) && l.includes("status="));
        assert.match(line ?? "", /estimated=true/, route);
      }
    } finally {
      upstream.close();
    }
  },
);
