/**
 * Ollama faults: unreachable, slow to answer, dying mid-stream. None charges what produced
 * nothing; what was delivered is recorded. (Every gatewayTest also audits the ledger at its end.)
 * @module
 */
import assert from "node:assert/strict";
import { estimateOf } from "../support/prompts.ts";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";

const messages = [{ role: "user", content: "Say hi" }];

/** A fake Ollama that sends headers and `lines`, then drops the connection without ending. */
function dyingUpstream(contentType: string, lines: string[]) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(65536);
        await conn.read(buf); // the request; its content does not matter here
        const enc = new TextEncoder();
        await conn.write(
          enc.encode(
            `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\nTransfer-Encoding: chunked\r\n\r\n`,
          ),
        );
        for (const line of lines) {
          const bytes = enc.encode(line);
          await conn.write(enc.encode(`${bytes.length.toString(16)}\r\n`));
          await conn.write(bytes);
          await conn.write(enc.encode("\r\n"));
        }
        await new Promise((r) => setTimeout(r, 20));
        conn.close(); // no terminating chunk: the stream dies
      })().catch(() => {});
    }
  })().catch(() => {});
  return { url: `http://127.0.0.1:${listener.addr.port}`, close: () => listener.close() };
}

async function pointAt(t: TestGateway, url: string) {
  const res = await t.admin("/api/settings", {
    method: "PUT",
    body: JSON.stringify({ ollama_url: url }),
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
}

gatewayTest(
  "no response headers within UPSTREAM_CONNECT_TIMEOUT gives 504; the unit and the prompt are charged",
  async (t) => {
    t.mock.set({ firstByteDelayMs: 3000 });
    const { key, id } = await t.createKey({ daily_request_limit: 5 });
    const native = await t.post("/api/chat", key, { model: "llama3", messages, stream: false });
    assert.equal(native.status, 504);
    assert.match((await native.json()).error, /UPSTREAM_CONNECT_TIMEOUT/);
    const openai = await t.post("/v1/chat/completions", key, { model: "llama3", messages });
    assert.equal(openai.status, 504);
    assert.equal((await openai.json()).error.code, "upstream_timeout");
    // Ollama had the request (loading, evaluating): the unit stays taken, the prompt counts.
    const usage = await t.usage(id);
    assert.equal(usage.today.requests, 2);
    assert.equal(
      usage.today.prompt_tokens,
      estimateOf({ messages }) * 2,
    );
    assert.equal(usage.today.completion_tokens, 0);
    await t.mock.idle();
  },
  { env: { UPSTREAM_CONNECT_TIMEOUT: "1" } },
);

gatewayTest("Ollama dying mid-stream ends a native stream with an error line", async (t) => {
  const chunk = (i: number) =>
    JSON.stringify({
      model: "llama3",
      created_at: "2026-08-20T10:00:00Z",
      message: { role: "assistant", content: `t${i}` },
      done: false,
    }) + "\n";
  const upstream = dyingUpstream("application/x-ndjson", [chunk(0), chunk(1)]);
  try {
    await pointAt(t, upstream.url);
    const { key, id } = await t.createKey();
    const res = await t.post("/api/chat", key, { model: "llama3", messages });
    const lines = (await res.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.equal(lines[2].error, "upstream connection lost");
    const usage = await t.usage(id);
    assert.equal(usage.today.requests, 1);
    assert.equal(usage.today.completion_tokens, 2, "what was delivered is charged");
  } finally {
    upstream.close();
  }
});

gatewayTest("Ollama dying mid-stream ends an OpenAI stream with an error event", async (t) => {
  const frame = (i: number) =>
    `data: ${
      JSON.stringify({
        id: "chatcmpl-1",
        object: "chat.completion.chunk",
        choices: [{ index: 0, delta: { content: `t${i}` }, finish_reason: null }],
      })
    }\n\n`;
  const upstream = dyingUpstream("text/event-stream", [frame(0), frame(1), frame(2)]);
  try {
    await pointAt(t, upstream.url);
    const { key, id } = await t.createKey();
    const res = await t.post("/v1/chat/completions", key, {
      model: "llama3",
      messages,
      stream: true,
    });
    const text = await res.text();
    assert.ok(!text.includes("[DONE]"), text);
    const events = text.split("\n\n").filter(Boolean);
    assert.equal(events.length, 4);
    // The OpenAI SDKs raise on an `error` data event; a stream that just stops looks complete.
    assert.deepEqual(JSON.parse(events[3].slice("data: ".length)).error, {
      message: "upstream connection lost",
      type: "api_error",
      param: null,
      code: "upstream_connection_lost",
    });
    assert.equal((await t.usage(id)).today.completion_tokens, 3);
  } finally {
    upstream.close();
  }
});
