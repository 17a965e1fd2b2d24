import assert from "node:assert/strict";
import {
  meterFor,
  NamedEventMeter,
  NdjsonMeter,
  SseMeter,
  SseStrippingMeter,
  type StreamMeter,
} from "../../proxy/stream_meter.ts";
import { INFERENCE_ROUTES } from "../../proxy/routes.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const NDJSON = [
  '{"model":"m","message":{"role":"assistant","content":"é"},"done":false}',
  '{"model":"m","message":{"role":"assistant","content":"b"},"done":false}',
  '{"model":"m","message":{"role":"assistant","content":"c"},"done":false}',
  '{"model":"m","done":true,"prompt_eval_count":7,"eval_count":3}',
].map((l) => l + "\n").join("");

const ZERO = ',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}';
const usageEvent =
  'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n';
const SSE = [
  'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"ü"}}]}\n\n',
  'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"b"}}]}\n\n',
  'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
  usageEvent,
  "data: [DONE]\n\n",
].join("");
/** What Ollama sends when the gateway asked for usage: zero usage in every content event. */
const SSE_ZEROS = SSE.replaceAll("}]}\n\n", `}]${ZERO}}\n\n`);

const ANTHROPIC = [
  'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":7,"output_tokens":1}}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ä"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"b"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"c"}}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":7,"output_tokens":3}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join("");

const RESPONSES = [
  'event: response.created\ndata: {"type":"response.created","response":{"status":"in_progress"}}\n\n',
  'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"ö"}\n\n',
  'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"b"}\n\n',
  'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"c"}\n\n',
  'event: response.completed\ndata: {"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":7,"output_tokens":3,"total_tokens":10}}}\n\n',
].join("");

/** Every meter with a whole stream of its format (3 content chunks, usage 7 + 3). */
const FORMATS: Array<{ name: string; make: () => StreamMeter; stream: string; sent: string }> = [
  { name: "NDJSON", make: () => new NdjsonMeter(), stream: NDJSON, sent: NDJSON },
  { name: "SSE", make: () => new SseMeter(), stream: SSE, sent: SSE },
  {
    name: "stripping SSE",
    make: () => new SseStrippingMeter(),
    stream: SSE_ZEROS,
    sent: SSE.replace(usageEvent, ""),
  },
  {
    name: "Anthropic events",
    make: () => new NamedEventMeter("anthropic"),
    stream: ANTHROPIC,
    sent: ANTHROPIC,
  },
  {
    name: "Responses events",
    make: () => new NamedEventMeter("responses"),
    stream: RESPONSES,
    sent: RESPONSES,
  },
];

/** Pushes `parts` one read each, then flushes; returns the forwarded text and the empty reads. */
function run(meter: StreamMeter, parts: Uint8Array[]) {
  const out: Uint8Array[] = [];
  let empty = 0;
  for (const p of parts) {
    const o = meter.push(p);
    if (o?.length) out.push(o);
    else empty++;
  }
  const rest = meter.flush();
  if (rest) out.push(rest);
  const all = new Uint8Array(out.reduce((n, o) => n + o.length, 0));
  out.reduce((at, o) => (all.set(o, at), at + o.length), 0);
  return { text: dec.decode(all), empty };
}

/** `text`'s bytes cut at `cut` and `cut + 7` (three reads). */
function cutAt(text: string, cut: number): Uint8Array[] {
  const bytes = enc.encode(text);
  return [bytes.slice(0, cut), bytes.slice(cut, cut + 7), bytes.slice(cut + 7)];
}

/** `text`'s bytes in reads of `size` bytes (multi-byte characters get cut too). */
function inReads(text: string | Uint8Array, size: number): Uint8Array[] {
  const bytes = typeof text === "string" ? enc.encode(text) : text;
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.slice(i, i + size));
  return parts;
}

for (const f of FORMATS) {
  Deno.test(`${f.name} meter: counts and usage are right wherever reads are cut`, () => {
    const total = enc.encode(f.stream).length;
    for (let cut = 0; cut <= total; cut++) {
      const meter = f.make();
      const { text } = run(meter, cutAt(f.stream, cut));
      assert.equal(meter.chunks, 3, `cut at ${cut}`);
      assert.deepEqual(meter.usage, { promptTokens: 7, completionTokens: 3 }, `cut at ${cut}`);
      assert.equal(meter.finished, true, `cut at ${cut}`);
      assert.equal(meter.failed, false);
      assert.equal(text, f.sent, `cut at ${cut}`);
    }
  });

  Deno.test(`${f.name} meter: one-byte reads and reads ending mid-event lose nothing`, () => {
    for (const size of [1, 2, 3, 5, 64]) {
      const meter = f.make();
      const { text } = run(meter, inReads(f.stream, size));
      assert.equal(text, f.sent, `reads of ${size}`);
      assert.equal(meter.chunks, 3);
      assert.deepEqual(meter.usage, { promptTokens: 7, completionTokens: 3 });
      assert.equal(meter.finished, true);
    }
  });

  Deno.test(`${f.name} meter: a stream cut before its end is not finished`, () => {
    const meter = f.make();
    run(meter, [enc.encode(f.stream.slice(0, f.stream.length / 2))]);
    assert.equal(meter.finished, false);
    assert.equal(meter.failed, false);
  });

  Deno.test(`${f.name} meter: work stays linear for an 8 MB event in 8 KiB reads`, () => {
    // The final line or event of the format, padded to 8 MB inside its JSON.
    const pad = "x".repeat(8 * 1024 * 1024);
    const big = f.stream.replace('"choices":[]', `"pad":"${pad}","choices":[]`)
      .replace('"done":true', `"pad":"${pad}","done":true`)
      .replace('"type":"message_delta"', `"type":"message_delta","pad":"${pad}"`)
      .replace('"status":"completed"', `"status":"completed","pad":"${pad}"`);
    const bytes = enc.encode(big);
    assert.ok(bytes.length > 8 * 1024 * 1024);
    const meter = f.make();
    run(meter, inReads(bytes, 8 * 1024));
    assert.deepEqual(meter.usage, { promptTokens: 7, completionTokens: 3 });
    // Searched once, held once, joined once, decoded (or rebuilt) once: a few times the input.
    // Concatenating the held bytes on every read would make it ~500 times.
    assert.ok(meter.work <= 5 * bytes.length, `${meter.work} bytes of work for ${bytes.length}`);
  });

  Deno.test(`${f.name} meter: a huge content event is counted, with linear work`, () => {
    const pad = "y".repeat(8 * 1024 * 1024);
    const big = f.stream.replace('"content":"b"', `"content":"${pad}"`)
      .replace('"text":"b"', `"text":"${pad}"`)
      .replace('"delta":"b"', `"delta":"${pad}"`);
    const bytes = enc.encode(big);
    assert.ok(bytes.length > 8 * 1024 * 1024);
    const meter = f.make();
    const { text } = run(meter, inReads(bytes, 8 * 1024));
    assert.equal(meter.chunks, 3);
    assert.equal(text.length, big.length - (f.stream.length - f.sent.length));
    assert.ok(meter.work <= 5 * bytes.length, `${meter.work} bytes of work for ${bytes.length}`);
  });
}

Deno.test("stripping SSE meter: forwards nothing for reads inside an event or of the usage event", () => {
  const meter = new SseStrippingMeter();
  const events = SSE_ZEROS.split(/(?<=\n\n)/);
  const usageAt = events.findIndex((e) => e.includes('"choices":[]'));
  const forwarded: string[] = [];
  const push = (s: string) => {
    const out = meter.push(enc.encode(s));
    forwarded.push(out ? dec.decode(out) : "");
  };
  push(events[0].slice(0, 10));
  push(events[0].slice(10));
  push(events[usageAt]); // the usage event alone in its read
  push(events[usageAt + 1]);
  assert.deepEqual(forwarded, ["", events[0].replace(ZERO, ""), "", "data: [DONE]\n\n"]);
  assert.deepEqual(meter.usage, { promptTokens: 7, completionTokens: 3 });
  assert.equal(meter.finished, true);
});

Deno.test("stripping SSE meter: a read of whole untouched events is forwarded as the same array", () => {
  const meter = new SseStrippingMeter();
  const bytes = enc.encode(SSE.split(usageEvent)[0]);
  assert.equal(meter.push(bytes), bytes);
});

const ERRORS: Array<{ name: string; make: () => StreamMeter; stream: string }> = [
  {
    name: "NDJSON (Ollama's error line)",
    make: () => new NdjsonMeter(),
    stream: NDJSON.split("\n").slice(0, 2).join("\n") + '\n{"error":"boom"}\n',
  },
  {
    name: "SSE",
    make: () => new SseMeter(),
    stream: SSE.split("\n\n").slice(0, 2).join("\n\n") +
      '\n\ndata: {"error":{"message":"boom","type":"api_error","param":null,"code":null}}\n\n',
  },
  {
    name: "stripping SSE",
    make: () => new SseStrippingMeter(),
    stream: SSE.split("\n\n").slice(0, 2).join("\n\n") + '\n\ndata: {"error":"boom"}\n\n',
  },
  {
    name: "Anthropic events",
    make: () => new NamedEventMeter("anthropic"),
    stream: ANTHROPIC.split("\n\n").slice(0, 3).join("\n\n") +
      '\n\nevent: error\ndata: {"type":"error","error":{"type":"api_error","message":"boom"}}\n\n',
  },
  {
    name: "Responses events (response.failed)",
    make: () => new NamedEventMeter("responses"),
    stream: RESPONSES.split("\n\n").slice(0, 3).join("\n\n") +
      '\n\nevent: response.failed\ndata: {"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}}\n\n',
  },
  {
    name: "Responses events (error)",
    make: () => new NamedEventMeter("responses"),
    stream: RESPONSES.split("\n\n").slice(0, 3).join("\n\n") +
      '\n\nevent: error\ndata: {"type":"error","code":"server_error","message":"boom"}\n\n',
  },
];

for (const e of ERRORS) {
  Deno.test(`${e.name} meter: Ollama's error in the stream marks it failed at every cut`, () => {
    for (let cut = 0; cut <= e.stream.length; cut += 3) {
      const meter = e.make();
      run(meter, cutAt(e.stream, cut));
      assert.equal(meter.failed, true, `cut at ${cut}`);
      assert.equal(meter.finished, false);
      assert.equal(meter.chunks, 2, `cut at ${cut}`);
    }
  });
}

const FAILURE = { status: 503, message: "gateway shutting down", code: "shutting_down" };

Deno.test("each format's error frame is its clients' error shape", () => {
  const frame = (m: StreamMeter) => dec.decode(m.errorFrame(FAILURE));
  assert.equal(frame(new NdjsonMeter()), '{"error":"gateway shutting down"}\n');
  const openai =
    'data: {"error":{"message":"gateway shutting down","type":"api_error","param":null,"code":"shutting_down"}}\n\n';
  assert.equal(frame(new SseMeter()), openai);
  assert.equal(frame(new SseStrippingMeter()), openai);
  assert.equal(
    frame(new NamedEventMeter("anthropic")),
    'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"gateway shutting down"}}\n\n',
  );
  assert.equal(
    frame(new NamedEventMeter("responses")),
    'event: error\ndata: {"type":"error","code":"shutting_down","message":"gateway shutting down","param":null}\n\n',
  );
});

Deno.test("after a stream cut inside an event, the error frame starts a piece of its own", () => {
  for (const f of FORMATS) {
    const meter = f.make();
    const { text } = run(meter, [enc.encode(f.stream.slice(0, 20))]);
    const after = text + dec.decode(meter.errorFrame(FAILURE));
    const pieces = after.split(f.name === "NDJSON" ? "\n" : "\n\n").filter(Boolean);
    assert.match(pieces.at(-1)!, /gateway shutting down/, f.name);
    assert.ok(!pieces.at(-1)!.includes(f.stream.slice(0, 20)), f.name);
  }
});

Deno.test("meterFor picks each route's format", () => {
  const route = (path: string) => INFERENCE_ROUTES.find((r) => r.path === path)!;
  const sse = "text/event-stream";
  assert.ok(meterFor(route("/api/chat"), "application/x-ndjson", false) instanceof NdjsonMeter);
  assert.ok(meterFor(route("/v1/chat/completions"), sse, false) instanceof SseMeter);
  assert.ok(meterFor(route("/v1/completions"), sse, true) instanceof SseStrippingMeter);
  const messages = meterFor(route("/v1/messages"), sse, false) as NamedEventMeter;
  assert.equal(messages.dialect, "anthropic");
  const responses = meterFor(route("/v1/responses"), sse, false) as NamedEventMeter;
  assert.equal(responses.dialect, "responses");
});

// Counts that are not non-negative safe integers: each would credit, block or corrupt a key.
const BAD_COUNTS: unknown[] = [-2_000_000, 1e308, 3.5, "7", true, { n: 1 }, 2 ** 53];

/** Each format's stream with its prompt count replaced by `value` (as JSON). */
const withPrompt = (value: string) => [
  {
    make: () => new NdjsonMeter(),
    stream: NDJSON.replace('"prompt_eval_count":7', `"prompt_eval_count":${value}`),
    field: "prompt_eval_count",
  },
  {
    make: () => new SseMeter(),
    stream: SSE.replace('"prompt_tokens":7', `"prompt_tokens":${value}`),
    field: "prompt_tokens",
  },
  {
    make: () => new SseStrippingMeter(),
    stream: SSE_ZEROS.replace('"prompt_tokens":7', `"prompt_tokens":${value}`),
    field: "prompt_tokens",
  },
  {
    make: () => new NamedEventMeter("anthropic"),
    stream: ANTHROPIC.replaceAll('"input_tokens":7', `"input_tokens":${value}`),
    field: "input_tokens",
  },
  {
    make: () => new NamedEventMeter("responses"),
    stream: RESPONSES.replace('"input_tokens":7', `"input_tokens":${value}`),
    field: "input_tokens",
  },
];

Deno.test("every meter treats a reported count that is not a token count as missing, and says so", () => {
  for (const bad of BAD_COUNTS) {
    for (const { make, stream, field } of withPrompt(JSON.stringify(bad))) {
      const meter = make();
      run(meter, inReads(stream, 10));
      const usage = meter.usage!;
      assert.equal(usage.promptTokens, null, `${field}: ${JSON.stringify(bad)}`);
      assert.equal(usage.completionTokens, 3);
      assert.ok(usage.invalid?.includes(field), `${field}: ${JSON.stringify(bad)}`);
    }
  }
  // Zero is a count (a cached prompt); null is an absent one, not an invalid one.
  for (const { make, stream } of withPrompt("0")) {
    const meter = make();
    run(meter, [enc.encode(stream)]);
    assert.deepEqual(meter.usage, { promptTokens: 0, completionTokens: 3 });
  }
  for (const { make, stream } of withPrompt("null")) {
    const meter = make();
    run(meter, [enc.encode(stream)]);
    assert.deepEqual(meter.usage, { promptTokens: null, completionTokens: 3 });
  }
});
