import assert from "node:assert/strict";
import {
  NdjsonMeter,
  SseMeter,
  SseStrippingMeter,
  type StreamMeter,
} from "../../proxy/stream_meter.ts";

const enc = new TextEncoder();

const NDJSON = [
  '{"model":"m","message":{"role":"assistant","content":"é"},"done":false}',
  '{"model":"m","message":{"role":"assistant","content":"b"},"done":false}',
  '{"model":"m","message":{"role":"assistant","content":"c"},"done":false}',
  '{"model":"m","done":true,"prompt_eval_count":7,"eval_count":3}',
].map((l) => l + "\n").join("");

const usageEvent =
  'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n';
const SSE = [
  'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"ü"}}]}\n\n',
  'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"b"}}]}\n\n',
  'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
  usageEvent,
  "data: [DONE]\n\n",
].join("");

/** Feeds `text` cut at `cut` and `cut + 7` (three chunks), returns the meter and its output. */
function feed(meter: StreamMeter, text: string, cut: number) {
  const bytes = enc.encode(text);
  const parts = [bytes.slice(0, cut), bytes.slice(cut, cut + 7), bytes.slice(cut + 7)];
  const out: Uint8Array[] = [];
  for (const p of parts) {
    const o = meter.push(p);
    if (o) out.push(o);
  }
  const rest = meter.flush();
  if (rest) out.push(rest);
  const all = new Uint8Array(out.reduce((n, o) => n + o.length, 0));
  out.reduce((at, o) => (all.set(o, at), at + o.length), 0);
  return { meter, text: new TextDecoder().decode(all) };
}

Deno.test("NDJSON meter counts lines and reads the final counts wherever chunks are cut", () => {
  const total = enc.encode(NDJSON).length;
  for (let cut = 0; cut <= total; cut++) {
    const { meter, text } = feed(new NdjsonMeter(), NDJSON, cut);
    assert.equal(meter.chunks, 3, `cut at ${cut}`);
    assert.deepEqual(meter.usage, { promptTokens: 7, completionTokens: 3 }, `cut at ${cut}`);
    assert.equal(meter.finished, true);
    assert.equal(text, NDJSON, "bytes pass untouched");
  }
});

Deno.test("NDJSON meter marks an error line and counts no usage without the final line", () => {
  const text = NDJSON.split("\n").slice(0, 2).join("\n") + '\n{"error":"boom"}\n';
  const { meter } = feed(new NdjsonMeter(), text, 10);
  assert.equal(meter.chunks, 2);
  assert.equal(meter.failed, true);
  assert.equal(meter.usage, null);
});

Deno.test("SSE meter counts events and reads usage wherever chunks are cut", () => {
  const total = enc.encode(SSE).length;
  for (let cut = 0; cut <= total; cut++) {
    const { meter, text } = feed(new SseMeter(), SSE, cut);
    assert.equal(meter.chunks, 3, `cut at ${cut}`);
    assert.deepEqual(meter.usage, { promptTokens: 7, completionTokens: 3 }, `cut at ${cut}`);
    assert.equal(meter.finished, true);
    assert.equal(text, SSE, "bytes pass untouched");
  }
});

Deno.test("stripping SSE meter drops the usage event but still reads it", () => {
  const { meter, text } = feed(new SseStrippingMeter(), SSE, 50);
  assert.deepEqual(meter.usage, { promptTokens: 7, completionTokens: 3 });
  assert.equal(meter.chunks, 3);
  assert.equal(text, SSE.replace(usageEvent, ""));
});
