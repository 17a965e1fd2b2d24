import assert from "node:assert/strict";
import { type EventDialect, NamedEventMeter } from "../../proxy/stream_meter.ts";
import { startMockOllama } from "../support/mock_ollama.ts";

// The named-event meter reads usage from Ollama's real /v1/messages and /v1/responses streams
// however the bytes are split on the way, and never changes them.

const messages = [{ role: "user", content: "Say hi" }];

async function streamBytes(path: string, body: unknown): Promise<Uint8Array> {
  const mock = await startMockOllama({ chunks: 4, promptTokens: 11 });
  try {
    const res = await fetch(mock.url + path, { method: "POST", body: JSON.stringify(body) });
    return new Uint8Array(await res.arrayBuffer());
  } finally {
    await mock.close();
  }
}

/** Feeds `bytes` in pieces of `size` bytes (multi-byte characters get cut too). */
function meter(bytes: Uint8Array, size: number, dialect: EventDialect): NamedEventMeter {
  const m = new NamedEventMeter(dialect);
  for (let i = 0; i < bytes.length; i += size) {
    const piece = bytes.subarray(i, i + size);
    assert.equal(m.push(piece), piece, "bytes are forwarded as they came");
  }
  assert.equal(m.flush(), null);
  return m;
}

for (
  const [path, body] of [
    ["/v1/messages", { model: "llama3", max_tokens: 100, messages, stream: true }],
    ["/v1/responses", { model: "llama3", input: "Say hi", stream: true }],
  ] as const
) {
  Deno.test(`the ${path} stream's usage is read at every split of its bytes`, async () => {
    const bytes = await streamBytes(path, body);
    for (const size of [1, 2, 3, 7, 64, bytes.length]) {
      const m = meter(bytes, size, path === "/v1/messages" ? "anthropic" : "responses");
      assert.deepEqual(m.usage, { promptTokens: 11, completionTokens: 4 }, `pieces of ${size}`);
      assert.equal(m.chunks, 4);
      assert.equal(m.finished, true);
      assert.equal(m.failed, false);
    }
  });
}

Deno.test("a stream cut before its final event has no usage, only counted deltas", async () => {
  const bytes = await streamBytes("/v1/messages", {
    model: "llama3",
    max_tokens: 100,
    messages,
    stream: true,
  });
  const text = new TextDecoder().decode(bytes);
  const cut = new TextEncoder().encode(text.slice(0, text.indexOf("event: message_delta")));
  const m = meter(cut, 5, "anthropic");
  assert.equal(m.usage, null);
  assert.equal(m.chunks, 4);
  assert.equal(m.finished, false);
});

Deno.test("Anthropic's input count in message_start is used when message_delta omits it", () => {
  const frames = [
    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":9,"output_tokens":1}}}\n\n',
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}\n\n',
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}\n\n',
    'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    "event: error\ndata: {}\n\n",
  ];
  const m = meter(new TextEncoder().encode(frames.join("")), 10, "anthropic");
  assert.deepEqual(m.usage, { promptTokens: 9, completionTokens: 5 });
  assert.equal(m.chunks, 1);
  assert.equal(m.finished, true);
  assert.equal(m.failed, true);
});
