import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";
import { mockChunkText } from "../support/mock_ollama.ts";

// Header behaviour clients depend on: stream content types, compression, CORS.
const messages = [{ role: "user", content: "Say hi" }];

/** One request per streamed (and not streamed) form of every inference route. */
const REQUESTS: Array<[string, Record<string, unknown>]> = [
  ["/api/chat", { model: "llama3", messages }],
  ["/api/chat", { model: "llama3", messages, stream: false }],
  ["/api/generate", { model: "llama3", prompt: "Say hi" }],
  ["/api/embed", { model: "all-minilm", input: "hi" }],
  ["/v1/chat/completions", { model: "llama3", messages, stream: true }],
  ["/v1/chat/completions", { model: "llama3", messages }],
  ["/v1/completions", { model: "llama3", prompt: "Say hi", stream: true }],
  ["/v1/embeddings", { model: "all-minilm", input: "hi" }],
  ["/v1/messages", { model: "llama3", max_tokens: 50, messages, stream: true }],
  ["/v1/messages", { model: "llama3", max_tokens: 50, messages }],
  ["/v1/responses", { model: "llama3", input: "Say hi", stream: true }],
  ["/v1/responses", { model: "llama3", input: "Say hi" }],
];

gatewayTest("every answer's Content-Type and Cache-Control are exactly Ollama's", async (t) => {
  const { key } = await t.createKey();
  for (const [path, body] of REQUESTS) {
    const via = await t.post(path, key, body);
    const direct = await fetch(t.mock.url + path, { method: "POST", body: JSON.stringify(body) });
    const what = `${path} ${JSON.stringify(body.stream ?? null)}`;
    assert.equal(via.status, 200, what);
    for (const name of ["content-type", "cache-control", "content-encoding"]) {
      assert.equal(via.headers.get(name), direct.headers.get(name), `${name} of ${what}`);
    }
    await via.body?.cancel();
    await direct.body?.cancel();
  }
});

/** Sends a raw HTTP/1.1 request and reads until `enough` says the text so far suffices. */
async function rawExchange(
  t: TestGateway,
  path: string,
  headers: Record<string, string>,
  body: unknown,
  enough: (text: string) => boolean,
): Promise<{ head: string; body: string }> {
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: Number(new URL(t.gateway.proxyUrl).port),
  });
  try {
    const payload = JSON.stringify(body);
    const lines = [
      `POST ${path} HTTP/1.1`,
      "Host: gateway.test",
      `Content-Length: ${new TextEncoder().encode(payload).length}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n" + payload));
    const decoder = new TextDecoder();
    const buf = new Uint8Array(16384);
    let text = "";
    // A held-back stream would block the read forever: give up after 5 s.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), 5000));
    try {
      while (!enough(text)) {
        const n = await Promise.race([conn.read(buf), late]);
        if (n === "late") throw new Error(`no timely answer; got ${JSON.stringify(text)}`);
        if (n === null) break;
        text += decoder.decode(buf.subarray(0, n), { stream: true });
      }
    } finally {
      clearTimeout(timer);
    }
    const split = text.indexOf("\r\n\r\n");
    return { head: text.slice(0, split).toLowerCase(), body: text.slice(split + 4) };
  } finally {
    conn.close();
  }
}

gatewayTest(
  "a client's Accept-Encoding (gzip, br, zstd) neither compresses nor holds back a stream",
  async (t) => {
    // Ollama never finishes: chunks can only arrive if nothing buffers or compresses them.
    t.mock.set({ hang: true, chunkDelayMs: 20 });
    const { key } = await t.createKey();
    const streams: Array<[string, Record<string, unknown>]> = [
      ["/api/chat", { model: "llama3", messages }],
      ["/v1/chat/completions", { model: "llama3", messages, stream: true }],
      ["/v1/messages", { model: "llama3", max_tokens: 500, messages, stream: true }],
      ["/v1/responses", { model: "llama3", input: "hi", stream: true }],
    ];
    for (const [path, body] of streams) {
      const { head, body: text } = await rawExchange(
        t,
        path,
        {
          Authorization: `Bearer ${key}`,
          "Content-Type": "application/json",
          "Accept-Encoding": "gzip, deflate, br, zstd",
        },
        body,
        (s) => s.includes(mockChunkText(2)),
      );
      assert.match(head, /^http\/1\.1 200/, path);
      assert.doesNotMatch(head, /content-encoding/, path);
      assert.match(head, /transfer-encoding: chunked/, path);
      assert.ok(text.includes(mockChunkText(0)) && text.includes(mockChunkText(1)), path);
    }
  },
);

gatewayTest("a gzip-accepting fetch reads the same stream as Ollama's", async (t) => {
  const { key } = await t.createKey();
  const body = { model: "llama3", messages, stream: true, stream_options: { include_usage: true } };
  const via = await t.post("/v1/chat/completions", key, body, { "accept-encoding": "gzip, br" });
  const direct = await fetch(t.mock.url + "/v1/chat/completions", {
    method: "POST",
    body: JSON.stringify(body),
  });
  const stable = (s: string) => s.replaceAll(/"(id|created)":("[^"]*"|\d+),/g, "");
  assert.equal(stable(await via.text()), stable(await direct.text()));
});

// ----- CORS: preflights are answered for ALLOWED_ORIGINS only -----

const ORIGIN = "https://chat.example";

function preflight(t: TestGateway, origin: string, path = "/v1/chat/completions") {
  return t.proxy(path, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
}

gatewayTest("CORS: a preflight from an allowed origin is answered without a key", async (t) => {
  for (const path of ["/v1/chat/completions", "/api/chat", "/v1/messages", "/v1/responses"]) {
    const res = await preflight(t, ORIGIN, path);
    assert.equal(res.status, 204, path);
    assert.equal(res.headers.get("access-control-allow-origin"), ORIGIN);
    assert.match(res.headers.get("access-control-allow-methods")!, /POST/);
    assert.match(res.headers.get("access-control-allow-headers")!, /Authorization/);
    assert.equal(res.headers.get("vary"), "Origin");
    await res.body?.cancel();
  }
  assert.equal(t.mock.requests.length, 0);
}, { env: { ALLOWED_ORIGINS: `https://other.example,${ORIGIN}` } });

gatewayTest("CORS: a preflight from any other origin is refused", async (t) => {
  for (const origin of ["https://evil.example", "http://chat.example", "null"]) {
    const res = await preflight(t, origin);
    assert.equal(res.status, 403, origin);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    await res.body?.cancel();
  }
}, { env: { ALLOWED_ORIGINS: ORIGIN } });

gatewayTest("CORS: with no ALLOWED_ORIGINS every preflight is refused", async (t) => {
  const res = await preflight(t, "http://localhost:3000");
  assert.equal(res.status, 403);
  await res.body?.cancel();
});

gatewayTest("CORS: ALLOWED_ORIGINS=* answers every origin", async (t) => {
  const res = await preflight(t, "https://anything.example");
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("access-control-allow-origin"), "https://anything.example");
  await res.body?.cancel();
}, { env: { ALLOWED_ORIGINS: "*" } });

gatewayTest(
  "CORS: answers and errors carry the allow-origin and expose the quota headers",
  async (t) => {
    const { key } = await t.createKey({ daily_request_limit: 1 });
    const body = { model: "llama3", messages };
    const call = (origin: string, headers: Record<string, string> = {}) =>
      t.post("/v1/chat/completions", key, body, { origin, ...headers });
    const ok = await call(ORIGIN);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("access-control-allow-origin"), ORIGIN);
    assert.match(
      ok.headers.get("access-control-expose-headers")!,
      /x-ratelimit-remaining-requests/,
    );
    await ok.body?.cancel();
    // A browser app must be able to read why it was refused.
    const refused = await call(ORIGIN);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("access-control-allow-origin"), ORIGIN);
    assert.match(refused.headers.get("access-control-expose-headers")!, /retry-after/);
    await refused.body?.cancel();
    const unauthorized = await call(ORIGIN, { authorization: "Bearer sk-nope" });
    assert.equal(unauthorized.status, 401);
    assert.equal(unauthorized.headers.get("access-control-allow-origin"), ORIGIN);
    await unauthorized.body?.cancel();
    // Another origin's page gets no allow-origin, so its browser hides the answer.
    const foreign = await call("https://evil.example");
    assert.equal(foreign.headers.get("access-control-allow-origin"), null);
    await foreign.body?.cancel();
  },
  { env: { ALLOWED_ORIGINS: ORIGIN } },
);

/** A fetch that records the name of every header a client sends. */
function recordingFetch(names: Set<string>): typeof fetch {
  return (input, init) => {
    for (const [name] of new Request(input, init).headers) names.add(name);
    return fetch(input, init);
  };
}

// Headers a browser sends without asking (CORS-safelisted), so a preflight never lists them.
const SAFELISTED = new Set(["accept", "accept-language", "content-language"]);

gatewayTest(
  "CORS: a preflight allows every header the OpenAI, Anthropic and Ollama clients send",
  async (t) => {
    const { key } = await t.createKey();
    const sent = new Set<string>();
    const fetch = recordingFetch(sent);
    const baseURL = t.gateway.proxyUrl;
    const openai = new OpenAI({ baseURL: baseURL + "/v1", apiKey: key, fetch });
    await openai.chat.completions.create({ model: "llama3", messages: [] as never }).catch(
      () => {},
    );
    await openai.chat.completions.stream({
      model: "llama3",
      messages: [{ role: "user", content: "hi" }],
    }).finalChatCompletion();
    await openai.responses.stream({ model: "llama3", input: "hi" }).finalResponse();
    // In a browser the Anthropic SDK adds its direct-browser-access header.
    const anthropic = new Anthropic({ baseURL, apiKey: key, fetch, dangerouslyAllowBrowser: true });
    await anthropic.messages.stream({
      model: "llama3",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    }).finalMessage();
    const ollama = new Ollama({
      host: baseURL,
      fetch,
      headers: { Authorization: `Bearer ${key}` },
    });
    await ollama.chat({ model: "llama3", messages });

    const res = await preflight(t, ORIGIN);
    const allowed = new Set(
      res.headers.get("access-control-allow-headers")!.split(",").map((h) =>
        h.trim().toLowerCase()
      ),
    );
    await res.body?.cancel();
    const missing = [...sent].filter((h) => !SAFELISTED.has(h) && !allowed.has(h));
    assert.deepEqual(missing, []);
    assert.ok(sent.has("x-stainless-helper-method"), [...sent].join(", "));
  },
  { env: { ALLOWED_ORIGINS: ORIGIN } },
);
