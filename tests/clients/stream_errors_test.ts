/**
 * A stream the gateway cannot finish — Ollama's connection lost, Ollama stopping early (its way
 * of failing an OpenAI-style stream), or a shutdown — must make each real SDK raise, not hand
 * its caller a cut answer as if it were whole.
 * @module
 */
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { ADMIN_PASSWORD, gatewayTest, type TestGateway } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { spawnGateway } from "../support/processes.ts";
import { pointGatewayAt, startScriptedUpstream } from "../support/scripted_upstream.ts";
import { caught, collect } from "./clients.ts";

const messages = [{ role: "user" as const, content: "Say hi" }];

/** The SDK clients, pointed at a gateway URL with a key. */
function clientsFor(url: string, key: string) {
  return {
    openai: new OpenAI({ baseURL: url + "/v1", apiKey: key, maxRetries: 0 }),
    anthropic: new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0 }),
    ollama: new Ollama({ host: url, headers: { Authorization: `Bearer ${key}` } }),
  };
}
type Clients = ReturnType<typeof clientsFor>;

/** One streamed call per family, its path and Ollama's request, and how its SDK's error reads. */
const STREAMS: Array<{
  name: string;
  path: string;
  body: Record<string, unknown>;
  stream: (c: Clients) => Promise<unknown[]>;
  message: (err: unknown) => string | null;
}> = [
  {
    name: "OpenAI chat (no include_usage)",
    path: "/v1/chat/completions",
    body: { model: "llama3", messages, stream: true, stream_options: { include_usage: true } },
    stream: async (c) =>
      collect(await c.openai.chat.completions.create({ model: "llama3", messages, stream: true })),
    message: (err) => err instanceof OpenAI.APIError ? err.message : null,
  },
  {
    name: "OpenAI legacy completions",
    path: "/v1/completions",
    body: {
      model: "llama3",
      prompt: "Say hi",
      stream: true,
      stream_options: { include_usage: true },
    },
    stream: async (c) =>
      collect(
        await c.openai.completions.create({ model: "llama3", prompt: "Say hi", stream: true }),
      ),
    message: (err) => err instanceof OpenAI.APIError ? err.message : null,
  },
  {
    name: "OpenAI Responses",
    path: "/v1/responses",
    body: { model: "llama3", input: "Say hi", stream: true },
    stream: async (c) =>
      collect(await c.openai.responses.create({ model: "llama3", input: "Say hi", stream: true })),
    message: (err) => err instanceof OpenAI.APIError ? err.message : null,
  },
  {
    name: "Anthropic Messages",
    path: "/v1/messages",
    body: { model: "llama3", max_tokens: 100, messages, stream: true },
    stream: async (c) =>
      collect(
        await c.anthropic.messages.create({
          model: "llama3",
          max_tokens: 100,
          messages,
          stream: true,
        }),
      ),
    message: (err) => err instanceof Anthropic.APIError ? err.apiMessage : null,
  },
  {
    name: "ollama-js chat",
    path: "/api/chat",
    body: { model: "llama3", messages },
    stream: async (c) => collect(await c.ollama.chat({ model: "llama3", messages, stream: true })),
    message: (err) => err instanceof Error ? err.message : null,
  },
];

/** Ollama's (the mock's) stream on `path` up to about half of its events, and its type. */
async function firstHalf(t: TestGateway, path: string, body: unknown) {
  const res = await fetch(t.mock.url + path, { method: "POST", body: JSON.stringify(body) });
  const contentType = res.headers.get("content-type")!;
  const events = (await res.text()).split(contentType.includes("ndjson") ? /(?<=\n)/ : /(?<=\n\n)/);
  return { contentType, writes: events.slice(0, Math.ceil(events.length / 2)) };
}

gatewayTest("every SDK raises when Ollama's connection is lost mid-stream", async (t) => {
  const scripts = Object.fromEntries(
    await Promise.all(
      STREAMS.map(async (s) => [s.path, { ...await firstHalf(t, s.path, s.body), die: true }]),
    ),
  );
  const upstream = startScriptedUpstream(scripts);
  try {
    await pointGatewayAt(t, upstream.url);
    const { key, id } = await t.createKey();
    const clients = clientsFor(t.gateway.proxyUrl, key);
    for (const s of STREAMS) {
      const err = await caught(() => s.stream(clients));
      assert.equal(s.message(err), "upstream connection lost", `${s.name}: ${err}`);
    }
    const usage = await t.usageWhen(id, (u) => u.today.requests >= STREAMS.length);
    assert.equal(usage.today.requests, STREAMS.length);
    assert.ok(usage.today.completion_tokens > 0, "what was delivered is charged");
  } finally {
    upstream.close();
  }
});

gatewayTest(
  "every compat SDK raises when Ollama ends its stream early, as it does on an error",
  async (t) => {
    // Ollama's OpenAI, Anthropic and Responses writers turn a mid-stream error into a stream that
    // just stops (no [DONE], no message_stop, no response.completed).
    t.mock.set({ chunks: 5, failMidStreamAfter: 2 });
    const { key } = await t.createKey();
    const clients = clientsFor(t.gateway.proxyUrl, key);
    for (const s of STREAMS) {
      const err = await caught(() => s.stream(clients));
      const expected = s.path === "/api/chat"
        ? "an error was encountered while running the model" // Ollama's own error line
        : "Ollama ended the stream before it was complete";
      assert.equal(s.message(err), expected, `${s.name}: ${err}`);
    }
    const lines = t.logs.filter((l) => l.includes("status=") && l.includes('route="/'));
    assert.equal(
      lines.filter((l) => /status=502 /.test(l)).length,
      STREAMS.length,
      lines.join("\n"),
    );
  },
);

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] SIGTERM mid-stream: every SDK raises "gateway shutting down"`, async () => {
    const db = await createTestDatabase(dialect);
    // Endless streams: only the shutdown's abort after the grace period can end them.
    const mock = await startMockOllama({ hang: true, chunkDelayMs: 20 });
    const gateway = await spawnGateway({
      DATABASE_URL: db.url,
      OLLAMA_URL: mock.url,
      SHUTDOWN_GRACE_SECONDS: "1",
      LOG_LEVEL: "warn",
    });
    try {
      const created = await (await fetch(gateway.adminUrl + "/api/api-keys", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
        body: JSON.stringify({ name: "sdk streams" }),
      })).json();
      const clients = clientsFor(gateway.proxyUrl, created.key);
      const errors = STREAMS.map((s) => caught(() => s.stream(clients)));
      for (let i = 0; i < 200 && mock.inferenceCount() < STREAMS.length; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(mock.inferenceCount(), STREAMS.length);
      const stopped = gateway.stop();
      for (const [i, err] of (await Promise.all(errors)).entries()) {
        assert.equal(
          STREAMS[i].message(err),
          "gateway shutting down",
          `${STREAMS[i].name}: ${err}`,
        );
      }
      assert.equal(await stopped, 0, gateway.output());
    } finally {
      await gateway.stop();
      await mock.close();
      await db.drop();
    }
  });
}
