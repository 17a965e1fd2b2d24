import assert from "node:assert/strict";
import { GatewayStopping } from "../../core/inflight.ts";
import { meteredStream } from "../../proxy/metered_stream.ts";
import {
  NamedEventMeter,
  NdjsonMeter,
  SseMeter,
  SseStrippingMeter,
  type StreamMeter,
} from "../../proxy/stream_meter.ts";

// The relay between Ollama's body and the client, on real web streams: it reads on until it has
// bytes to send, and ends every stream in its format's way.

const enc = new TextEncoder();
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const LOST = { status: 502, message: "upstream connection lost", code: "upstream_connection_lost" };

/** An upstream body that hands out `reads` one per pull, then ends (or fails with `fail`). */
function upstreamOf(reads: string[], fail?: Error): ReadableStream<Uint8Array> {
  const queue = reads.map((r) => enc.encode(r));
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      const next = queue.shift();
      if (next) controller.enqueue(next);
      else if (fail) controller.error(fail);
      else {
        controller.close();
        // A BYOB read under way is answered only by responding to it (as fetch's body does).
        controller.byobRequest?.respond(0);
      }
    },
  });
}

/** Relays `upstream` through `meter` and reads the client's side to its end, or fails if it hangs. */
async function relay(
  meter: StreamMeter,
  upstream: ReadableStream<Uint8Array>,
  signal = new AbortController().signal,
) {
  const statuses: number[] = [];
  const stream = meteredStream(upstream, {
    meter,
    signal,
    ended: (status) => Promise.resolve(statuses.push(status)),
    clientLeft: () => Promise.reject(new Error("the client did not leave")),
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  // A stream that is never pulled again hangs for good: the deadline turns that into a failure.
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the relayed stream hung")), 5000);
  });
  try {
    const text = await Promise.race([new Response(stream).text(), hung]);
    return { text, statuses };
  } finally {
    clearTimeout(timer);
  }
}

const content = (s: string) =>
  `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"${s}"}}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}\n\n`;
const usage =
  'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}\n\n';
const DONE = "data: [DONE]\n\n";
const strip = (s: string) =>
  s.replaceAll(',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}', "");

Deno.test("a stripped OpenAI stream whose usage event arrives alone, in pieces, still ends", async () => {
  const meter = new SseStrippingMeter();
  const reads = [content("a"), content("b"), usage.slice(0, 30), usage.slice(30, 60)];
  const { text, statuses } = await relay(meter, upstreamOf([...reads, usage.slice(60), DONE]));
  assert.equal(text, strip(content("a")) + strip(content("b")) + DONE);
  assert.deepEqual(meter.usage, { promptTokens: 7, completionTokens: 2 });
  assert.deepEqual(statuses, [200]);
});

Deno.test("a stripped OpenAI stream read a few bytes at a time still ends", async () => {
  const whole = content("a") + content("b") + usage + DONE;
  const reads: string[] = [];
  for (let i = 0; i < whole.length; i += 5) reads.push(whole.slice(i, i + 5));
  const meter = new SseStrippingMeter();
  const { text, statuses } = await relay(meter, upstreamOf(reads));
  assert.equal(text, strip(content("a")) + strip(content("b")) + DONE);
  assert.deepEqual(statuses, [200]);
});

/** Each format: a whole stream, the reads before its end, and how its error frame begins. */
const FORMATS = [
  {
    make: () => new NdjsonMeter(),
    reads: ['{"response":"a","done":false}\n{"resp', 'onse":"b","done":false}\n'],
    end: '{"done":true,"prompt_eval_count":7,"eval_count":2}\n',
    frame: /^\{"error":"(.+)"\}\n$/,
  },
  {
    make: () => new SseMeter(),
    reads: [content("a") + content("b").slice(0, 9), content("b").slice(9)],
    end: usage + DONE,
    frame: /^data: \{"error":\{"message":"(.+)","type":"api_error"/,
  },
  {
    make: () => new SseStrippingMeter(),
    reads: [content("a") + content("b").slice(0, 9), content("b").slice(9)],
    end: usage + DONE,
    frame: /^data: \{"error":\{"message":"(.+)","type":"api_error"/,
  },
  {
    make: () => new NamedEventMeter("anthropic"),
    reads: [
      'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"a"}}\n\nevent: con',
      'tent_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"b"}}\n\n',
    ],
    end:
      'event: message_delta\ndata: {"type":"message_delta","usage":{"input_tokens":7,"output_tokens":2}}\n\n' +
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    frame: /^event: error\ndata: \{"type":"error","error":\{"type":"\w+","message":"(.+)"\}\}\n\n$/,
  },
  {
    make: () => new NamedEventMeter("responses"),
    reads: [
      'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"a"}\n\nevent: resp',
      'onse.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"b"}\n\n',
    ],
    end:
      'event: response.completed\ndata: {"type":"response.completed","response":{"usage":{"input_tokens":7,"output_tokens":2}}}\n\n',
    frame:
      /^event: error\ndata: \{"type":"error","code":"\w+","message":"(.+)","param":null\}\n\n$/,
  },
];

for (const f of FORMATS) {
  const name = f.make().constructor.name +
    (f.make() instanceof NamedEventMeter ? ` (${(f.make() as NamedEventMeter).dialect})` : "");

  Deno.test(`${name}: a whole stream ends as it came, status 200`, async () => {
    const meter = f.make();
    const { text, statuses } = await relay(meter, upstreamOf([...f.reads, f.end]));
    assert.ok(!/error/.test(text), text);
    assert.deepEqual(statuses, [200]);
    assert.deepEqual(meter.usage, { promptTokens: 7, completionTokens: 2 });
  });

  Deno.test(`${name}: a lost upstream ends the stream with its error frame, 502`, async () => {
    const meter = f.make();
    const { text, statuses } = await relay(
      meter,
      upstreamOf(f.reads, new TypeError("connection reset")),
    );
    const frame = dec(meter.errorFrame(LOST));
    assert.ok(text.endsWith(frame), text);
    assert.equal(f.frame.exec(frame)?.[1], "upstream connection lost");
    assert.deepEqual(statuses, [502]);
    assert.equal(meter.chunks, 2);
  });

  Deno.test(`${name}: a shutdown ends the stream with its error frame, 503`, async () => {
    const meter = f.make();
    const abort = new AbortController();
    let reads = 0;
    // An upstream that hangs after its reads: only the shutdown's abort can end it.
    const upstream = new ReadableStream<Uint8Array>({
      type: "bytes",
      pull(controller) {
        if (reads < f.reads.length) controller.enqueue(enc.encode(f.reads[reads++]));
        else {
          abort.abort(new GatewayStopping());
          return new Promise(() => {});
        }
      },
    });
    const { text, statuses } = await relay(meter, upstream, abort.signal);
    assert.match(text, /gateway shutting down/);
    assert.deepEqual(statuses, [503]);
  });

  Deno.test(`${name}: an upstream that ends before its end gets the error frame, 502`, async () => {
    const meter = f.make();
    const { text, statuses } = await relay(meter, upstreamOf(f.reads));
    assert.match(text, /Ollama ended the stream before it was complete/);
    assert.deepEqual(statuses, [502]);
  });

  Deno.test(`${name}: a connection lost after the stream's end changes nothing`, async () => {
    const meter = f.make();
    const { text, statuses } = await relay(
      meter,
      upstreamOf([...f.reads, f.end], new TypeError("connection reset")),
    );
    const whole = f.reads.join("") + f.end;
    assert.equal(
      text,
      meter instanceof SseStrippingMeter ? strip(whole).replace(usage, "") : whole,
    );
    assert.deepEqual(statuses, [200]);
  });
}

Deno.test("Ollama's own error line ends a native stream as an error, with nothing added", async () => {
  const meter = new NdjsonMeter();
  const reads = ['{"response":"a","done":false}\n', '{"error":"an error was encountered"}\n'];
  const { text, statuses } = await relay(meter, upstreamOf(reads));
  assert.equal(text, reads.join(""));
  assert.deepEqual(statuses, [502]);
  assert.equal(meter.chunks, 1);
});

Deno.test("a client that leaves is reported once, and the stream does not end again", async () => {
  const events: string[] = [];
  let pulls = 0;
  const upstream = new ReadableStream<Uint8Array>({
    type: "bytes",
    pull(controller) {
      if (pulls++ === 0) controller.enqueue(enc.encode('{"response":"a","done":false}\n'));
      else return new Promise(() => {}); // Ollama still generating
    },
  });
  const stream = meteredStream(upstream, {
    meter: new NdjsonMeter(),
    signal: new AbortController().signal,
    ended: (status) => Promise.resolve(events.push(`ended ${status}`)),
    clientLeft: () => Promise.resolve(events.push("left")),
  });
  const reader = stream.getReader();
  await reader.read();
  const pending = reader.read(); // a read under way when the client goes
  await reader.cancel();
  await pending;
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(events, ["left"]);
});

Deno.test("a native final line many times the read buffer arrives whole and is metered", async () => {
  // /api/generate's last line carries `context`: thousands of token ids, read in many pieces.
  const context = Array.from({ length: 12_000 }, (_, i) => i * 7).join(",");
  const last =
    `{"model":"m","response":"","done":true,"context":[${context}],"prompt_eval_count":7,"eval_count":2}\n`;
  const first = '{"model":"m","response":"a","done":false}\n';
  const meter = new NdjsonMeter();
  const { text, statuses } = await relay(meter, upstreamOf([first + last]));
  assert.ok(last.length > 64 * 1024, `${last.length} bytes`);
  // Compared as a flag: a diff of two 80 KB lines would fill the report.
  assert.ok(text === first + last, `relayed ${text.length} of ${(first + last).length} bytes`);
  assert.deepEqual(statuses, [200]);
  assert.deepEqual(meter.usage, { promptTokens: 7, completionTokens: 2 });
});

Deno.test("a read that completes as the client leaves meters nothing after it left (fetch body)", async () => {
  const lines = [0, 1, 2].map((i) => `{"response":"t${i}","done":false}\n`);
  // The answer stays open after its lines: the client leaves in the middle of it.
  let held!: ReadableStreamDefaultController<Uint8Array>;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          held = c;
        },
        // A line 5 ms after each pull, then nothing more.
        pull(c) {
          const next = lines.shift();
          if (next === undefined) return;
          return new Promise((resolve) =>
            setTimeout(() => resolve(c.enqueue(enc.encode(next))), 5)
          );
        },
      }),
      { headers: { "content-type": "application/x-ndjson" } },
    ));
  try {
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
    const events: string[] = [];
    const meter = new NdjsonMeter();
    const push = meter.push.bind(meter);
    meter.push = (bytes) => {
      events.push("metered");
      return push(bytes);
    };
    const stream = meteredStream(res.body!, {
      meter,
      signal: new AbortController().signal,
      ended: (status) => Promise.resolve(events.push(`ended ${status}`)),
      clientLeft: () => Promise.resolve(events.push("left")),
    });
    const reader = stream.getReader();
    await reader.read();
    // The other lines arrive meanwhile: the next read completes at once, and the client leaves
    // before its answer is handled.
    await new Promise((r) => setTimeout(r, 50));
    const pending = reader.read();
    await reader.cancel();
    await pending;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(events.indexOf("metered", events.indexOf("left")), -1, events.join(", "));
    assert.ok(!events.some((e) => e.startsWith("ended")), events.join(", "));
  } finally {
    try {
      held.close();
    } catch { /* the client's leaving cancelled it already */ }
    await server.shutdown();
  }
});
