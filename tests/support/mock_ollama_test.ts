/**
 * Checks the mock Ollama's framing against the reference (/work/shared/reference/ollama-api.md).
 * @module
 */
import assert from "node:assert/strict";
import { mockAnswer, mockChunkText, type MockOllama, startMockOllama } from "./mock_ollama.ts";

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
