/**
 * Checks the mock Ollama's framing against the reference (/work/shared/reference/ollama-api.md).
 * @module
 */
import assert from "node:assert/strict";
import {
  MOCK_IMAGE_TOKENS,
  MOCK_MESSAGE_TOKENS,
  mockAnswer,
  mockChunkText,
  type MockOllama,
  startMockOllama,
} from "./mock_ollama.ts";

interface Answer {
  status: number;
  contentType: string | null;
  headers: Headers;
  text: string;
}

async function call(
  mock: MockOllama,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  const res = await fetch(mock.url + path, {
    method,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    redirect: "manual",
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    headers: res.headers,
    text,
  };
}

/** NDJSON body → parsed lines (asserting every line ends with \n). */
function ndjson(text: string): Record<string, unknown>[] {
  assert.ok(text.endsWith("\n"), "NDJSON body ends with a newline");
  return text.slice(0, -1).split("\n").map((l) => JSON.parse(l));
}

/** SSE body of `data:` frames → payloads ("[DONE]" kept as a string). */
function sseData(text: string): unknown[] {
  assert.ok(text.endsWith("\n\n"), "SSE body ends with a blank line");
  return text.slice(0, -2).split("\n\n").map((frame) => {
    assert.ok(frame.startsWith("data: "), `frame is a data line: ${frame}`);
    const payload = frame.slice(6);
    return payload === "[DONE]" ? payload : JSON.parse(payload);
  });
}

/** SSE body of named events → [event, data] pairs. */
function sseEvents(text: string): Array<[string, Record<string, unknown>]> {
  assert.ok(text.endsWith("\n\n"), "SSE body ends with a blank line");
  return text.slice(0, -2).split("\n\n").map((frame) => {
    const m = /^event: (.+)\ndata: (.+)$/.exec(frame);
    assert.ok(m, `named event frame: ${frame}`);
    return [m[1], JSON.parse(m[2])];
  });
}

const CHAT = { model: "llama3", messages: [{ role: "user", content: "Say hi" }] };
const METRICS = [
  "total_duration",
  "load_duration",
  "prompt_eval_count",
  "prompt_eval_duration",
  "eval_count",
  "eval_duration",
];

Deno.test("native /api/chat streams NDJSON ending in a done chunk with metrics", async () => {
  const mock = await startMockOllama();
  try {
    const res = await call(mock, "POST", "/api/chat", CHAT);
    assert.equal(res.status, 200);
    assert.equal(res.contentType, "application/x-ndjson");
    const lines = ndjson(res.text);
    assert.equal(lines.length, 4);
    for (const [i, line] of lines.slice(0, 3).entries()) {
      assert.deepEqual(Object.keys(line), ["model", "created_at", "message", "done"]);
      assert.deepEqual(line.message, { role: "assistant", content: mockChunkText(i) });
      assert.equal(line.done, false);
      assert.match(String(line.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    }
    const final = lines[3];
    assert.deepEqual(Object.keys(final), [
      "model",
      "created_at",
      "message",
      "done",
      "done_reason",
      ...METRICS,
    ]);
    assert.equal(final.model, "llama3", "echoes the request's model string");
    assert.deepEqual(final.message, { role: "assistant", content: "" });
    assert.equal(final.done, true);
    assert.equal(final.done_reason, "stop");
    assert.equal(final.prompt_eval_count, 7);
    assert.equal(final.eval_count, 3);
    for (const k of ["total_duration", "load_duration", "prompt_eval_duration", "eval_duration"]) {
      assert.ok(Number.isInteger(final[k]) && (final[k] as number) > 0, `${k} is integer ns`);
    }
    assert.equal(mock.inferenceCount(), 1);
    assert.equal(mock.requests[0].aborted, false);
    assert.deepEqual(mock.requests[0].body, CHAT);
  } finally {
    await mock.close();
  }
});

Deno.test("native /api/generate stream:false is one gin JSON object with context", async () => {
  const mock = await startMockOllama();
  try {
    const res = await call(mock, "POST", "/api/generate", {
      model: "llama3.2",
      prompt: "hi",
      stream: false,
    });
    assert.equal(res.status, 200);
    assert.equal(res.contentType, "application/json; charset=utf-8");
    assert.ok(!res.text.endsWith("\n"), "gin c.JSON has no trailing newline");
    const obj = JSON.parse(res.text);
    assert.deepEqual(Object.keys(obj), [
      "model",
      "created_at",
      "response",
      "done",
      "done_reason",
      "context",
      ...METRICS,
    ]);
    assert.equal(obj.response, mockAnswer(3));
    assert.equal(obj.eval_count, 3);
  } finally {
    await mock.close();
  }
});

Deno.test("omitPromptCount / omitEvalCount leave the counts out (omitempty)", async () => {
  const mock = await startMockOllama({ omitPromptCount: true, omitEvalCount: true });
  try {
    const lines = ndjson((await call(mock, "POST", "/api/chat", CHAT)).text);
    const final = lines[lines.length - 1];
    assert.equal("prompt_eval_count" in final, false);
    assert.equal("eval_count" in final, false);
    assert.ok("prompt_eval_duration" in final);
    const oa = await call(mock, "POST", "/v1/chat/completions", CHAT);
    assert.deepEqual(JSON.parse(oa.text).usage, {
      prompt_tokens: 0,
      completion_tokens: 0,
      total_tokens: 0,
    });
  } finally {
    await mock.close();
  }
});

Deno.test("a generation cap shortens the answer and sets done_reason length", async () => {
  const mock = await startMockOllama({ chunks: 5 });
  try {
    const native = ndjson(
      (await call(mock, "POST", "/api/chat", { ...CHAT, options: { num_predict: 2 } })).text,
    );
    assert.equal(native.length, 3);
    assert.equal(native[2].done_reason, "length");
    assert.equal(native[2].eval_count, 2);

    const uncapped = ndjson(
      (await call(mock, "POST", "/api/chat", { ...CHAT, options: { num_predict: 9 } })).text,
    );
    assert.equal(uncapped.length, 6);
    assert.equal(uncapped[5].done_reason, "stop");

    const oa = JSON.parse(
      (await call(mock, "POST", "/v1/chat/completions", { ...CHAT, max_tokens: 2 })).text,
    );
    assert.equal(oa.choices[0].finish_reason, "length");
    assert.equal(oa.choices[0].message.content, mockAnswer(2));
    assert.equal(oa.usage.completion_tokens, 2);

    const anthropic = JSON.parse(
      (await call(mock, "POST", "/v1/messages", { ...CHAT, max_tokens: 4 })).text,
    );
    assert.equal(anthropic.stop_reason, "max_tokens");
    assert.deepEqual(anthropic.usage, { input_tokens: 7, output_tokens: 4 });
  } finally {
    await mock.close();
  }
});

Deno.test("OpenAI chat SSE: usage chunk only with include_usage, then [DONE]", async () => {
  const mock = await startMockOllama();
  try {
    const plain = await call(mock, "POST", "/v1/chat/completions", { ...CHAT, stream: true });
    assert.equal(plain.contentType, "text/event-stream");
    const frames = sseData(plain.text);
    assert.equal(frames.length, 5, "3 content chunks, finish chunk, [DONE]");
    assert.equal(frames[4], "[DONE]");
    assert.ok(!plain.text.includes('"usage"'), "no usage key without include_usage");
    const chunks = frames.slice(0, 4) as Array<Record<string, unknown>>;
    const deltas = chunks.map((c) => (c.choices as Array<Record<string, unknown>>)[0].delta);
    assert.deepEqual(deltas, [
      { role: "assistant", content: mockChunkText(0) },
      { content: mockChunkText(1) },
      { content: mockChunkText(2) },
      {},
    ]);
    assert.equal((chunks[3].choices as Array<Record<string, unknown>>)[0].finish_reason, "stop");
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, "one id per stream");
    assert.deepEqual(Object.keys(chunks[0]), [
      "id",
      "object",
      "created",
      "model",
      "system_fingerprint",
      "choices",
    ]);

    const withUsage = await call(mock, "POST", "/v1/chat/completions", {
      ...CHAT,
      stream: true,
      stream_options: { include_usage: true },
    });
    const uframes = sseData(withUsage.text);
    assert.equal(uframes.length, 6);
    assert.equal(uframes[5], "[DONE]");
    const usageChunk = uframes[4] as Record<string, unknown>;
    assert.deepEqual(usageChunk.choices, []);
    assert.deepEqual(usageChunk.usage, {
      prompt_tokens: 7,
      completion_tokens: 3,
      total_tokens: 10,
    });
    assert.equal(withUsage.text.split('"usage"').length - 1, 1, "only the last chunk has usage");
  } finally {
    await mock.close();
  }
});

Deno.test("OpenAI completions SSE with include_usage: zero usage on every chunk", async () => {
  const mock = await startMockOllama();
  try {
    const res = await call(mock, "POST", "/v1/completions", {
      model: "llama3",
      prompt: "Say hi",
      stream: true,
      stream_options: { include_usage: true },
    });
    const frames = sseData(res.text);
    assert.equal(frames.length, 6, "3 text chunks, final chunk, usage chunk, [DONE]");
    assert.equal(frames[5], "[DONE]");
    const zero = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    for (const f of frames.slice(0, 4) as Array<Record<string, unknown>>) {
      assert.deepEqual(f.usage, zero);
      assert.deepEqual(Object.keys(f), [
        "id",
        "object",
        "created",
        "choices",
        "model",
        "system_fingerprint",
        "usage",
      ]);
    }
    const final = frames[3] as { choices: Array<Record<string, unknown>> };
    assert.deepEqual(final.choices, [{ text: "", index: 0, finish_reason: "stop" }]);
    const usage = frames[4] as Record<string, unknown>;
    assert.deepEqual(usage.choices, []);
    assert.deepEqual(usage.usage, { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
  } finally {
    await mock.close();
  }
});

Deno.test("failWith: status, content type and body per route", async () => {
  const mock = await startMockOllama({ failWith: { status: 429, error: "rate limit exceeded" } });
  try {
    const streamed = await call(mock, "POST", "/api/chat", CHAT);
    assert.equal(streamed.status, 429);
    assert.equal(streamed.contentType, "application/json");
    assert.equal(streamed.text, '{"error":"rate limit exceeded"}');

    const single = await call(mock, "POST", "/api/chat", { ...CHAT, stream: false });
    assert.equal(single.status, 429);
    assert.equal(single.contentType, "application/json; charset=utf-8");

    const oa = await call(mock, "POST", "/v1/chat/completions", { ...CHAT, stream: true });
    assert.equal(oa.status, 429);
    assert.equal(oa.contentType, "application/json");
    assert.equal(
      oa.text,
      '{"error":{"message":"rate limit exceeded","type":"api_error","param":null,"code":null}}\n',
    );

    const an = await call(mock, "POST", "/v1/messages", { ...CHAT, max_tokens: 10 });
    assert.equal(an.status, 429);
    const body = JSON.parse(an.text);
    assert.equal(body.type, "error");
    assert.deepEqual(body.error, { type: "rate_limit_error", message: "rate limit exceeded" });

    mock.set({});
    assert.equal((await call(mock, "POST", "/api/chat", CHAT)).status, 200, "set() replaces");
  } finally {
    await mock.close();
  }
});

Deno.test("mid-stream errors: native error line; OpenAI empty delta and no [DONE]", async () => {
  const mock = await startMockOllama({ failMidStreamAfter: 2 });
  try {
    const native = await call(mock, "POST", "/api/generate", { model: "llama3", prompt: "x" });
    assert.equal(native.status, 200);
    const lines = ndjson(native.text);
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[2], { error: "an error was encountered while running the model" });
    assert.ok(lines.every((l) => l.done !== true), "no done:true chunk");

    const oa = await call(mock, "POST", "/v1/chat/completions", { ...CHAT, stream: true });
    assert.equal(oa.status, 200);
    const frames = sseData(oa.text) as Array<{ choices: Array<Record<string, unknown>> }>;
    assert.equal(frames.length, 3);
    assert.deepEqual(frames[2].choices, [{
      index: 0,
      delta: { content: "" },
      finish_reason: null,
    }]);
    assert.ok(!oa.text.includes("[DONE]"));
    assert.ok(!oa.text.includes('"finish_reason":"stop"'));

    const single = await call(mock, "POST", "/api/chat", { ...CHAT, stream: false });
    assert.equal(single.status, 500);

    mock.set({ failMidStreamAfter: 0 });
    const before = await call(mock, "POST", "/api/chat", CHAT);
    assert.equal(before.status, 500, "an error before any chunk is a plain error response");
    assert.equal(before.contentType, "application/json");
  } finally {
    await mock.close();
  }
});

Deno.test("unknown models, bad bodies and unknown routes answer like Ollama", async () => {
  const mock = await startMockOllama();
  try {
    const chat = await call(mock, "POST", "/api/chat", { ...CHAT, model: "nope" });
    assert.equal(chat.status, 404);
    assert.equal(chat.text, `{"error":"model 'nope' not found"}`);
    const embed = await call(mock, "POST", "/api/embed", { model: "nope", input: "x" });
    assert.equal(embed.text, `{"error":"model \\"nope\\" not found, try pulling it first"}`);
    const oa = await call(mock, "POST", "/v1/chat/completions", { ...CHAT, model: "nope" });
    assert.equal(oa.status, 404);
    assert.equal(oa.contentType, "application/json");
    assert.ok(oa.text.endsWith("}\n"));
    assert.equal(JSON.parse(oa.text).error.type, "not_found_error");
    const tagDefault = await call(mock, "POST", "/api/chat", { ...CHAT, model: "LLAMA3:Latest" });
    assert.equal(tagDefault.status, 200, "names match case-insensitively");

    const escaped = await call(mock, "POST", "/api/generate", { model: "<x>&", prompt: "a" });
    assert.equal(escaped.text, `{"error":"model '\\u003cx\\u003e\\u0026' not found"}`);

    const missing = await call(mock, "POST", "/api/chat", "");
    assert.equal(missing.status, 400);
    assert.equal(missing.text, '{"error":"missing request body"}');
    const invalid = await call(mock, "POST", "/api/chat", "{nope");
    assert.equal(invalid.status, 400);
    const empty = await call(mock, "POST", "/v1/chat/completions", {
      model: "llama3",
      messages: [],
    });
    assert.equal(empty.status, 400);
    assert.equal(empty.contentType, "application/json; charset=utf-8");
    assert.equal(
      empty.text,
      `{"error":{"message":"[] is too short - 'messages'","type":"invalid_request_error","param":null,"code":null}}`,
    );

    const notFound = await call(mock, "GET", "/api/nothing");
    assert.deepEqual([notFound.status, notFound.contentType, notFound.text], [
      404,
      "text/plain",
      "404 page not found",
    ]);
    const wrongMethod = await call(mock, "GET", "/api/chat");
    assert.deepEqual([wrongMethod.status, wrongMethod.text], [405, "405 method not allowed"]);
  } finally {
    await mock.close();
  }
});

async function rawGet(port: number, host: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const req = `GET /api/version HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(req));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(
      chunks.reduce((a, b) => new Uint8Array([...a, ...b]), new Uint8Array()),
    );
  } finally {
    conn.close();
  }
}

Deno.test("Host header check rejects non-local hosts with an empty 403", async () => {
  const mock = await startMockOllama();
  try {
    const bad = await rawGet(mock.port, "api.example.com");
    assert.match(bad, /^HTTP\/1\.1 403 /);
    assert.ok(bad.endsWith("\r\n\r\n"), "empty body");
    for (
      const host of [
        `localhost:${mock.port}`,
        `127.0.0.1:${mock.port}`,
        "[::1]:11434",
        "x.localhost",
      ]
    ) {
      assert.match(await rawGet(mock.port, host), /^HTTP\/1\.1 200 /, host);
    }
    assert.equal(mock.requests.length, 5);
    assert.equal(mock.requests[0].headers.get("host"), "api.example.com");
  } finally {
    await mock.close();
  }
});

Deno.test("aborted is set only when the client leaves while the mock is producing", async () => {
  const mock = await startMockOllama({ hang: true, chunkDelayMs: 5 });
  try {
    const ac = new AbortController();
    const res = await fetch(mock.url + "/api/chat", {
      method: "POST",
      body: JSON.stringify(CHAT),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /tok0/);
    ac.abort();
    await reader.cancel().catch(() => {});
    await mock.idle();
    assert.equal(mock.requests[0].aborted, true);

    mock.set({ firstByteDelayMs: 5_000 });
    const ac2 = new AbortController();
    const pending = fetch(mock.url + "/api/generate", {
      method: "POST",
      body: JSON.stringify({ model: "llama3", prompt: "x" }),
      signal: ac2.signal,
    }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 50));
    ac2.abort();
    await pending;
    await mock.idle();
    assert.equal(mock.requests[1].aborted, true, "abort before the headers");

    mock.set({});
    await call(mock, "POST", "/api/chat", CHAT);
    await mock.idle();
    assert.equal(mock.requests[2].aborted, false, "a completed answer is not aborted");
  } finally {
    await mock.close();
  }
});

Deno.test("Anthropic and Responses streams carry usage in their closing events", async () => {
  const mock = await startMockOllama();
  try {
    const an = await call(mock, "POST", "/v1/messages", { ...CHAT, max_tokens: 100, stream: true });
    assert.equal(an.contentType, "text/event-stream");
    const events = sseEvents(an.text);
    assert.deepEqual(events.map(([e]) => e), [
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    assert.deepEqual(events[6][1], {
      type: "message_delta",
      delta: { stop_reason: "end_turn" },
      usage: { input_tokens: 7, output_tokens: 3 },
    });

    const rs = await call(mock, "POST", "/v1/responses", {
      model: "llama3",
      input: "hi",
      stream: true,
    });
    const revents = sseEvents(rs.text);
    assert.equal(revents[0][0], "response.created");
    const [lastName, last] = revents[revents.length - 1];
    assert.equal(lastName, "response.completed");
    const response = last.response as Record<string, unknown>;
    assert.equal(response.status, "completed");
    assert.deepEqual(response.usage, {
      input_tokens: 7,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 3,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 10,
    });
    assert.deepEqual(revents.map(([, d]) => d.sequence_number), revents.map((_, i) => i));

    const single = JSON.parse(
      (await call(mock, "POST", "/v1/responses", { model: "llama3", input: "hi" })).text,
    );
    assert.equal(single.output[0].content[0].text, mockAnswer(3));
    assert.equal(single.usage.total_tokens, 10);
  } finally {
    await mock.close();
  }
});

Deno.test("close() ends a hanging stream whose client is still connected", async () => {
  const mock = await startMockOllama({ hang: true, chunkDelayMs: 10 });
  const res = await fetch(mock.url + "/v1/chat/completions", {
    method: "POST",
    body: JSON.stringify({ ...CHAT, stream: true }),
  });
  const reader = res.body!.getReader();
  assert.equal((await reader.read()).done, false);
  await mock.close();
  while (!(await reader.read()).done) {
    // drain what was already sent
  }
  assert.equal(mock.requests[0].aborted, false, "the mock closing is not a client abort");
});

// ---------------------------------------------------------------------------------------------
// Bodies decoded like Go's encoding/json into Ollama's structs
// ---------------------------------------------------------------------------------------------

/** POSTs a raw JSON text (duplicate keys survive) and parses a single JSON answer. */
async function postRaw(
  mock: MockOllama,
  path: string,
  text: string,
): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await call(mock, "POST", path, text);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(res.text);
  } catch {
    // streamed or plain-text answers are read from `text`
  }
  return { status: res.status, json, text: res.text };
}

const MSGS = '"messages":[{"role":"user","content":"Say hi"}]';

Deno.test("a later case variant of options overrides num_predict, as Go binds OPTIONS to options", async () => {
  const mock = await startMockOllama({ chunks: 100_000 });
  try {
    const chat = await postRaw(
      mock,
      "/api/chat",
      `{"model":"llama3",${MSGS},"stream":false,"options":{"num_predict":5},"OPTIONS":{"num_predict":2000}}`,
    );
    assert.equal(chat.status, 200);
    assert.equal(chat.json.eval_count, 2000);
    assert.equal((chat.json.message as { content: string }).content, mockAnswer(2000));
    assert.equal(mock.requests[0].decoded?.numPredict, 2000);

    const streamed = await postRaw(
      mock,
      "/api/generate",
      `{"model":"llama3","prompt":"hi","Options":{"num_predict":5},"oPTIONſ":{"num_predict":40}}`,
    );
    assert.equal(ndjson(streamed.text).length, 41, "40 chunks and the final one");

    const first = await postRaw(
      mock,
      "/api/chat",
      `{"model":"llama3",${MSGS},"stream":false,"OPTIONS":{"num_predict":2000},"options":{"num_predict":5}}`,
    );
    assert.equal(first.json.eval_count, 5, "the last spelling wins, whichever it is");
  } finally {
    await mock.close();
  }
});

Deno.test("duplicate options objects merge key by key; a repeated key inside takes the last value", async () => {
  const mock = await startMockOllama({ chunks: 50 });
  try {
    const r = await postRaw(
      mock,
      "/api/chat",
      `{"model":"llama3",${MSGS},"stream":false,"options":{"num_predict":5,"num_ctx":64},` +
        `"options":{"temperature":1,"num_ctx":128}}`,
    );
    assert.equal(r.json.eval_count, 5, "num_predict from the first object survives the second");
    const d = mock.requests[0].decoded!;
    assert.deepEqual(d.request.options, { num_predict: 5, num_ctx: 128, temperature: 1 });
    assert.equal(d.numCtx, 128);

    const nulled = await postRaw(
      mock,
      "/api/chat",
      `{"model":"llama3",${MSGS},"stream":false,"options":{"num_predict":5},"options":null,` +
        `"options":{"temperature":1}}`,
    );
    assert.equal(nulled.json.eval_count, 50, "null drops the map; the next one starts afresh");
  } finally {
    await mock.close();
  }
});

Deno.test("keys inside options are exact: NUM_PREDICT is an unknown option", async () => {
  const mock = await startMockOllama({ chunks: 6 });
  try {
    const r = await postRaw(
      mock,
      "/api/chat",
      `{"model":"llama3",${MSGS},"stream":false,"options":{"NUM_PREDICT":2,"num_predict":3,"Num_Predict":1}}`,
    );
    assert.equal(r.json.eval_count, 3);
    const bad = await postRaw(
      mock,
      "/api/chat",
      `{"model":"llama3",${MSGS},"options":{"num_predict":"5"}}`,
    );
    assert.deepEqual([bad.status, bad.json], [500, {
      error: 'option "num_predict" must be of type integer',
    }]);
  } finally {
    await mock.close();
  }
});

Deno.test("Go folding: KELVIN SIGN matches k and LONG S matches s in field names", async () => {
  const mock = await startMockOllama();
  try {
    const r = await postRaw(
      mock,
      "/api/chat",
      `{"model":"llama3",${MSGS},"ſtream":false,"\u212aeep_alive":"1h"}`,
    );
    assert.equal(r.status, 200);
    assert.equal(r.json.done, true, "ſtream:false gave one JSON object");
    assert.equal(mock.requests[0].decoded?.keepAlive, 3600);

    const unload = await postRaw(mock, "/api/generate", `{"MODEL":"llama3","\u212aEEP_ALIVE":0}`);
    assert.equal(unload.json.done_reason, "unload");

    const notFolded = await postRaw(
      mock,
      "/api/chat",
      `{"model":"llama3",${MSGS},"strea\u00b5":false}`,
    );
    assert.ok(notFolded.text.includes("\n{"), "other non-ASCII letters bind nothing: streamed");
  } finally {
    await mock.close();
  }
});

Deno.test("model, stream and max_tokens: the last spelling wins on /v1/chat/completions", async () => {
  const mock = await startMockOllama({ chunks: 100 });
  try {
    const r = await postRaw(
      mock,
      "/v1/chat/completions",
      `{"model":"nope","MODEL":"llama3",${MSGS},"max_tokens":3,"MAX_TOKENS":40,"Max_Tokens":7}`,
    );
    assert.equal(r.status, 200);
    assert.equal(r.json.model, "llama3");
    assert.deepEqual(r.json.usage, { prompt_tokens: 7, completion_tokens: 7, total_tokens: 14 });
    assert.equal(mock.requests[0].decoded?.numPredict, 7);

    const streamed = await postRaw(
      mock,
      "/v1/chat/completions",
      `{"model":"llama3",${MSGS},"STREAM":true,"max_tokens":2}`,
    );
    assert.ok(streamed.text.endsWith("data: [DONE]\n\n"), "STREAM binds stream");

    const kept = await postRaw(
      mock,
      "/v1/chat/completions",
      `{"model":"llama3","Model":null,${MSGS},"max_tokens":2}`,
    );
    assert.equal(kept.json.model, "llama3", "null leaves a string field as it was");
  } finally {
    await mock.close();
  }
});

Deno.test("stream_options.INCLUDE_USAGE:false after include_usage:true switches the usage chunk off", async () => {
  const mock = await startMockOllama();
  try {
    const off = await postRaw(
      mock,
      "/v1/chat/completions",
      `{"model":"llama3",${MSGS},"stream":true,"stream_options":{"include_usage":true},` +
        `"STREAM_OPTIONS":{"INCLUDE_USAGE":false}}`,
    );
    assert.ok(!off.text.includes('"usage"'));
    assert.deepEqual(mock.requests[0].decoded?.request.stream_options, { include_usage: false });

    const merged = await postRaw(
      mock,
      "/v1/completions",
      `{"model":"llama3","prompt":"hi","stream":true,"stream_options":{"include_usage":true},` +
        `"stream_options":{}}`,
    );
    assert.ok(merged.text.includes('"choices":[],'), "an empty object merges: usage stays on");
  } finally {
    await mock.close();
  }
});

Deno.test("MAX_OUTPUT_TOKENS and MAX_TOKENS bind on /v1/responses and /v1/messages", async () => {
  const mock = await startMockOllama({ chunks: 100 });
  try {
    const resp = await postRaw(
      mock,
      "/v1/responses",
      `{"model":"llama3","input":"hi","max_output_tokens":2,"MAX_OUTPUT_TOKENS":9}`,
    );
    assert.equal((resp.json.usage as { output_tokens: number }).output_tokens, 9);
    assert.equal(resp.json.max_output_tokens, 9);

    const msg = await postRaw(
      mock,
      "/v1/messages",
      `{"model":"llama3",${MSGS},"max_tokens":2,"MAX_TOKENS":11}`,
    );
    assert.equal((msg.json.usage as { output_tokens: number }).output_tokens, 11);

    const completion = await postRaw(
      mock,
      "/v1/completions",
      `{"model":"llama3","prompt":"hi","Max_Tokens":4}`,
    );
    assert.equal((completion.json.usage as { completion_tokens: number }).completion_tokens, 4);
  } finally {
    await mock.close();
  }
});

Deno.test("an unset num_predict is bounded to 10 × num_ctx, as Ollama's runner does", async () => {
  const mock = await startMockOllama({ chunks: 100_000 });
  try {
    const r = await postRaw(
      mock,
      "/api/chat",
      `{"model":"llama3",${MSGS},"stream":false,"options":{"num_ctx":16}}`,
    );
    assert.equal(r.json.eval_count, 160);
    assert.equal(r.json.done_reason, "length");
    const huge = await postRaw(
      mock,
      "/v1/chat/completions",
      `{"model":"llama3",${MSGS},"max_tokens":1000000}`,
    );
    assert.equal((huge.json.usage as { completion_tokens: number }).completion_tokens, 40960);
  } finally {
    await mock.close();
  }
});

Deno.test("type errors answer with encoding/json's message", async () => {
  const mock = await startMockOllama();
  try {
    const n = await postRaw(mock, "/api/chat", `{"model":5}`);
    assert.deepEqual([n.status, n.json], [400, {
      error: "json: cannot unmarshal number into Go struct field ChatRequest.model of type string",
    }]);
    const exp = await postRaw(
      mock,
      "/v1/chat/completions",
      `{"model":"llama3",${MSGS},"max_tokens":1e2}`,
    );
    assert.equal(
      (exp.json.error as { message: string }).message,
      "json: cannot unmarshal number 1e2 into Go struct field ChatCompletionRequest.max_tokens of type int",
    );
    const msg = await postRaw(mock, "/api/chat", `{"model":"llama3","messages":[{"content":5}]}`);
    assert.equal(
      msg.json.error,
      "json: cannot unmarshal number into Go struct field ChatRequest.messages of type string",
    );
    const img = await postRaw(
      mock,
      "/api/generate",
      `{"model":"llama3","prompt":"a","images":["AAA"]}`,
    );
    assert.deepEqual([img.status, img.json.error], [400, "illegal base64 data at input byte 0"]);
    const dur = await postRaw(mock, "/api/chat", `{"model":"llama3","keep_alive":"300"}`);
    assert.equal(dur.json.error, 'time: missing unit in duration "300"');
  } finally {
    await mock.close();
  }
});

Deno.test("content read through map lookups is exact: TEXT in a content part is not text", async () => {
  const mock = await startMockOllama();
  try {
    const r = await postRaw(
      mock,
      "/v1/chat/completions",
      `{"model":"llama3","messages":[{"role":"user","content":[{"type":"text","TEXT":"hi"}]}]}`,
    );
    assert.deepEqual([r.status, (r.json.error as { message: string }).message], [
      400,
      "invalid message format",
    ]);
    const sys = await postRaw(
      mock,
      "/v1/messages",
      `{"model":"llama3","max_tokens":5,"system":[{"TYPE":"text","text":"long system"}],${MSGS}}`,
    );
    assert.equal(sys.status, 200);
    assert.equal(
      mock.requests[1].decoded?.promptTokens,
      6,
      "the system block with TYPE is skipped; only the user message renders",
    );
  } finally {
    await mock.close();
  }
});

// ---------------------------------------------------------------------------------------------
// prompt_eval_count counts what Ollama renders (promptTokens: "rendered")
// ---------------------------------------------------------------------------------------------

/** ceil(UTF-8 bytes / 4), the mock's stand-in tokenizer (mock_ollama/prompt.ts). */
const tok = (s: string) => Math.ceil(new TextEncoder().encode(s).length / 4);
const IMG = "iVBORw0KGgo="; // 8 bytes of base64: any image costs MOCK_IMAGE_TOKENS
const TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather <now>",
    parameters: { type: "object", required: ["city"], properties: { city: { type: "string" } } },
  },
};
/** TOOL as Go writes api.Tool values (field order, HTML escaping). */
const TOOL_JSON = '[{"type":"function","function":{"name":"get_weather",' +
  '"description":"Weather \\u003cnow\\u003e","parameters":{"type":"object",' +
  '"required":["city"],"properties":{"city":{"type":"string"}}}}}]';

Deno.test("rendered prompt on /api/chat: messages, tools, tool calls, tool results and images", async () => {
  const mock = await startMockOllama({ promptTokens: "rendered" });
  try {
    assert.equal(MOCK_IMAGE_TOKENS, 256);
    assert.equal(MOCK_MESSAGE_TOKENS, 4);
    const messages = [
      { role: "system", content: "You are terse." },
      { role: "user", content: "Weather in Paris?", images: [IMG, IMG] },
      {
        role: "assistant",
        content: "",
        tool_calls: [{ function: { name: "get_weather", arguments: { city: "Paris" } } }],
      },
      { role: "tool", content: "18 degrees" },
    ];
    const r = await call(mock, "POST", "/api/chat", {
      model: "llama3",
      messages,
      tools: [TOOL],
      stream: false,
    });
    const expected = 4 + tok("You are terse.") +
      4 + tok("Weather in Paris?") + 2 * 256 +
      4 + tok('{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}') +
      4 + tok("18 degrees") +
      tok(TOOL_JSON);
    assert.equal(JSON.parse(r.text).prompt_eval_count, expected);
    assert.equal(mock.requests[0].decoded?.promptTokens, expected);
  } finally {
    await mock.close();
  }
});

Deno.test("duplicate tools arrays reuse the earlier elements, and the prompt shows it", async () => {
  const mock = await startMockOllama({ promptTokens: "rendered" });
  try {
    const long = "x".repeat(400);
    const r = await postRaw(
      mock,
      "/api/chat",
      `{"model":"llama3",${MSGS},"stream":false,` +
        `"tools":[{"type":"function","function":{"name":"a","description":"${long}"}}],` +
        `"tools":[{"function":{"name":"b"}}]}`,
    );
    const json = '[{"type":"function","function":{"name":"b","description":"' + long +
      '","parameters":{"type":"","properties":null}}}]';
    assert.equal(r.json.prompt_eval_count, 4 + tok("Say hi") + tok(json));
  } finally {
    await mock.close();
  }
});

Deno.test("rendered prompt on /api/generate: system, template, context, images, suffix, raw", async () => {
  const mock = await startMockOllama({ promptTokens: "rendered" });
  try {
    const gen = async (body: Record<string, unknown>) =>
      JSON.parse(
        (await call(mock, "POST", "/api/generate", { model: "llama3", stream: false, ...body }))
          .text,
      );
    const first = await gen({ prompt: "Tell me", system: "Be brief", template: "{{ .Prompt }}" });
    const p1 = 4 + tok("Be brief") + 4 + tok("Tell me") + tok("{{ .Prompt }}");
    assert.equal(first.prompt_eval_count, p1);
    assert.equal(first.context.length, p1 + 3, "context: the prompt plus the 3 generated tokens");

    const next = await gen({ prompt: "More", context: first.context, images: [IMG] });
    assert.equal(next.prompt_eval_count, first.context.length + 256 + 4 + tok("More"));

    const suffix = await gen({ prompt: "def f(", suffix: "return 1", system: "ignored" });
    assert.equal(suffix.prompt_eval_count, tok("def f(") + tok("return 1"));

    const raw = await gen({ prompt: "[INST] hi [/INST]", raw: true });
    assert.equal(raw.prompt_eval_count, tok("[INST] hi [/INST]"));
  } finally {
    await mock.close();
  }
});

Deno.test("rendered prompt is clipped to num_ctx (native) and to the default 4096 (/v1)", async () => {
  const mock = await startMockOllama({ promptTokens: "rendered" });
  try {
    const big = "word ".repeat(8000); // 10,000 tokens by the mock's rule
    const small = await call(mock, "POST", "/api/generate", {
      model: "llama3",
      prompt: big,
      stream: false,
      options: { num_ctx: 1000 },
    });
    assert.equal(JSON.parse(small.text).prompt_eval_count, 1000);
    const raised = await call(mock, "POST", "/api/generate", {
      model: "llama3",
      prompt: big,
      stream: false,
      OPTIONS: { num_ctx: 20000 },
    });
    assert.equal(JSON.parse(raised.text).prompt_eval_count, 4 + 10000, "raising num_ctx lifts it");
    const v1 = await call(mock, "POST", "/v1/completions", { model: "llama3", prompt: big });
    assert.equal(JSON.parse(v1.text).usage.prompt_tokens, 4096);
  } finally {
    await mock.close();
  }
});

Deno.test("rendered prompt on /v1/chat/completions: parts, image_url, tool_calls, tools", async () => {
  const mock = await startMockOllama({ promptTokens: "rendered" });
  try {
    const r = await call(mock, "POST", "/v1/chat/completions", {
      model: "llama3",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image_url", image_url: { url: `data:image/png;base64,${IMG}` } },
          ],
        },
        {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: "c1",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          }],
        },
        { role: "tool", tool_call_id: "c1", content: "18 degrees" },
      ],
      tools: [TOOL],
    });
    const expected = 4 + tok("What is this?") + 4 + 256 +
      4 + tok('{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}') +
      4 + tok("18 degrees") + tok(TOOL_JSON);
    assert.equal(JSON.parse(r.text).usage.prompt_tokens, expected);
  } finally {
    await mock.close();
  }
});

Deno.test("rendered prompt on /v1/messages: system, tool_use, tool_result, image, tools", async () => {
  const mock = await startMockOllama({ promptTokens: "rendered" });
  try {
    const r = await call(mock, "POST", "/v1/messages", {
      model: "llama3",
      max_tokens: 5,
      system: "Be brief",
      tools: [{
        name: "get_weather",
        description: "Weather <now>",
        input_schema: TOOL.function.parameters,
      }],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Weather here?" },
            { type: "image", source: { type: "base64", media_type: "image/png", data: IMG } },
          ],
        },
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "t1", name: "get_weather", input: { city: "Paris" } }],
        },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "t1", content: "18 degrees" }],
        },
      ],
    });
    const expected = 4 + tok("Be brief") + 4 + tok("Weather here?") + 256 +
      4 + tok('{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}') +
      4 + tok("18 degrees") + tok(TOOL_JSON);
    assert.deepEqual(JSON.parse(r.text).usage, { input_tokens: expected, output_tokens: 3 });
  } finally {
    await mock.close();
  }
});

Deno.test("rendered prompt on /v1/responses: input_image, function_call, function_call_output", async () => {
  const mock = await startMockOllama({ promptTokens: "rendered" });
  try {
    const r = await call(mock, "POST", "/v1/responses", {
      model: "llama3",
      instructions: "Be brief",
      input: [
        {
          role: "user",
          content: [
            { type: "input_text", text: "Weather here?" },
            { type: "input_image", detail: "auto", image_url: `data:image/png;base64,${IMG}` },
          ],
        },
        {
          type: "function_call",
          call_id: "c1",
          name: "get_weather",
          arguments: '{"city":"Paris"}',
        },
        { type: "function_call_output", call_id: "c1", output: "18 degrees" },
      ],
      tools: [{
        type: "function",
        name: "get_weather",
        description: "Weather <now>",
        parameters: TOOL.function.parameters,
      }],
    });
    const expected = 4 + tok("Be brief") + 4 + tok("Weather here?") + 256 +
      4 + tok('{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}') +
      4 + tok("18 degrees") + tok(TOOL_JSON);
    assert.equal(JSON.parse(r.text).usage.input_tokens, expected);
  } finally {
    await mock.close();
  }
});

Deno.test("rendered prompt on the embedding routes: per input, clipped to the model's context", async () => {
  const mock = await startMockOllama({ promptTokens: "rendered" });
  try {
    const long = "word ".repeat(1000); // 1,250 tokens; all-minilm's context is 512
    const r = await call(mock, "POST", "/api/embed", { model: "all-minilm", input: ["hi", long] });
    assert.equal(JSON.parse(r.text).prompt_eval_count, 1 + 512);
    const v1 = await call(mock, "POST", "/v1/embeddings", { model: "all-minilm", input: "hello" });
    assert.deepEqual(JSON.parse(v1.text).usage, { prompt_tokens: 2, total_tokens: 2 });
    const strict = await call(mock, "POST", "/api/embed", {
      model: "all-minilm",
      input: long,
      truncate: false,
    });
    assert.deepEqual([strict.status, JSON.parse(strict.text)], [400, {
      error: "the input length exceeds the context length",
    }]);
  } finally {
    await mock.close();
  }
});

Deno.test("decoded records keep_alive, num_ctx and num_predict as Ollama would use them", async () => {
  const mock = await startMockOllama();
  try {
    await postRaw(
      mock,
      "/api/generate",
      `{"model":"llama3","prompt":"hi","stream":false,"keep_alive":"5m","Keep_Alive":-1,` +
        `"options":{"num_ctx":2048,"num_predict":9.7}}`,
    );
    const d = mock.requests[0].decoded!;
    assert.equal(d.keepAlive, -1, "a negative keep_alive is forever");
    assert.equal(d.numCtx, 2048);
    assert.equal(d.numPredict, 9, "Options.FromMap truncates floats to int");
    assert.equal(d.model, "llama3");
    assert.equal(d.stream, false);
    assert.equal(d.request.keep_alive, -1);
    await postRaw(mock, "/v1/chat/completions", `{"model":"llama3",${MSGS},"keep_alive":0}`);
    assert.equal(mock.requests[1].decoded?.keepAlive, undefined, "/v1 has no keep_alive");
    assert.equal(mock.requests[1].decoded?.numCtx, 4096);
  } finally {
    await mock.close();
  }
});
