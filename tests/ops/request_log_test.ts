import assert from "node:assert/strict";
import { hashApiKey } from "../../core/secrets.ts";
import { ADMIN_PASSWORD, gatewayTest, type TestGateway } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { spawnGateway } from "../support/processes.ts";
import { createTestDatabase } from "../support/databases.ts";

const chat = { model: "llama3", stream: false, messages: [{ role: "user", content: "hi" }] };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A text-format request line: its level and its fields. */
interface LogLine {
  level: string;
  fields: Record<string, unknown>;
}

/** The `request` lines written so far, parsed (`time LEVEL request key=json …`). */
function requestLines(t: TestGateway): LogLine[] {
  return t.logs.flatMap((line) => {
    const head = /^\S+ (DEBUG|INFO|WARN|ERROR) request (.*)$/.exec(line);
    if (!head) return [];
    const fields: Record<string, unknown> = {};
    for (const m of head[2].matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      fields[m[1]] = JSON.parse(m[2]);
    }
    return [{ level: head[1], fields }];
  });
}

function linesFor(t: TestGateway, requestId: string): LogLine[] {
  return requestLines(t).filter((l) => l.fields.request_id === requestId);
}

gatewayTest(
  "each proxied request writes one line: id, key prefix, route, model, status, tokens, timing",
  async (t) => {
    const { key, id } = await t.createKey();
    const res = await t.post("/api/chat", key, chat);
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const requestId = res.headers.get("x-request-id")!;
    const lines = linesFor(t, requestId);
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const { level, fields } = lines[0];
    const usage = (await t.usage(id)).today;
    assert.equal(level, "INFO");
    assert.equal(fields.listener, "proxy");
    assert.equal(fields.method, "POST");
    assert.equal(fields.route, "/api/chat");
    assert.equal(fields.key_prefix, key.slice(0, 11));
    assert.equal(fields.model, "llama3");
    assert.equal(fields.status, 200);
    assert.equal(fields.prompt_tokens, usage.prompt_tokens);
    assert.equal(fields.completion_tokens, usage.completion_tokens);
    assert.equal(fields.charged, true);
    assert.equal(typeof fields.duration_ms, "number");
    assert.equal(typeof fields.ttfb_ms, "number");
    assert.ok((fields.ttfb_ms as number) <= (fields.duration_ms as number));
  },
);

gatewayTest(
  "a client's X-Request-Id is used and returned; otherwise a new id is made",
  async (t) => {
    const { key } = await t.createKey();
    const given = await t.post("/api/chat", key, chat, { "x-request-id": "trace-42.a:b" });
    await given.body?.cancel();
    assert.equal(given.headers.get("x-request-id"), "trace-42.a:b");
    assert.equal(linesFor(t, "trace-42.a:b").length, 1);

    const made = await t.post("/api/chat", key, chat);
    await made.body?.cancel();
    assert.match(made.headers.get("x-request-id")!, UUID);
    assert.equal(linesFor(t, made.headers.get("x-request-id")!).length, 1);

    // An id that could forge or break a log line is replaced, not echoed.
    for (const bad of ["two words", "x".repeat(129), 'quote"d']) {
      const res = await t.post("/api/chat", key, chat, { "x-request-id": bad });
      await res.body?.cancel();
      assert.match(res.headers.get("x-request-id")!, UUID, bad);
    }
  },
);

gatewayTest(
  "errors carry the request id too, and are logged with their status and code",
  async (t) => {
    const res = await t.proxy("/api/chat", { method: "POST", body: JSON.stringify(chat) });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    const [line] = linesFor(t, res.headers.get("x-request-id")!);
    assert.equal(line.fields.status, 401);
    assert.equal(line.fields.error, "missing_api_key");
    assert.equal(line.fields.route, "/api/chat");
    assert.equal(line.fields.key_prefix, undefined);

    const { key } = await t.createKey({ daily_request_limit: 0 });
    const refused = await t.post("/api/chat", key, chat);
    assert.equal(refused.status, 429);
    await refused.body?.cancel();
    const [quota] = linesFor(t, refused.headers.get("x-request-id")!);
    assert.equal(quota.fields.limit, "daily_requests");
    assert.equal(quota.fields.error, "daily_request_limit_exceeded");
  },
);

gatewayTest(
  "a stream is logged once, when it ends, with its tokens and time to first byte",
  async (t) => {
    t.mock.set({ chunks: 4, chunkDelayMs: 60 });
    const { key } = await t.createKey();
    const res = await t.post("/api/chat", key, { model: "llama3", messages: chat.messages });
    const requestId = res.headers.get("x-request-id")!;
    const reader = res.body!.getReader();
    await reader.read();
    assert.equal(linesFor(t, requestId).length, 0, "not logged while it streams");
    while (!(await reader.read()).done) { /* drain */ }
    const lines = linesFor(t, requestId);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].fields.status, 200);
    assert.equal(lines[0].fields.completion_tokens, 4);
    assert.ok((lines[0].fields.duration_ms as number) >= 180);
    assert.ok((lines[0].fields.ttfb_ms as number) < (lines[0].fields.duration_ms as number));
  },
);

gatewayTest(
  "a client that leaves mid-stream is logged with status 499 and what it was charged",
  async (t) => {
    t.mock.set({ hang: true, chunkDelayMs: 20 });
    const { key } = await t.createKey();
    const res = await t.post("/api/chat", key, { model: "llama3", messages: chat.messages });
    const requestId = res.headers.get("x-request-id")!;
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    for (let i = 0; i < 100 && linesFor(t, requestId).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const [line] = linesFor(t, requestId);
    assert.equal(line.fields.status, 499);
    assert.equal(line.fields.charged, true);
    assert.ok((line.fields.completion_tokens as number) >= 1);
  },
);

gatewayTest("the admin listener logs its requests too; health probes only at debug", async (t) => {
  const created = await t.admin("/api/api-keys", {
    method: "POST",
    body: JSON.stringify({ name: "x" }),
  });
  const [line] = linesFor(t, created.headers.get("x-request-id")!);
  assert.equal(line.fields.listener, "admin");
  assert.equal(line.fields.route, "/api/api-keys");
  assert.equal(line.fields.status, 201);
  assert.equal(line.level, "INFO");
  for (const base of [t.gateway.proxyUrl, t.gateway.adminUrl]) {
    const probe = await fetch(base + "/healthz");
    await probe.body?.cancel();
    assert.equal(linesFor(t, probe.headers.get("x-request-id")!)[0].level, "DEBUG");
  }
});

gatewayTest("log lines never hold a key, its hash or the admin password", async (t) => {
  const { key } = await t.createKey({ name: "secretive" });
  (await t.post("/api/chat", key, chat)).body?.cancel();
  (await t.post("/v1/chat/completions", key, { ...chat, stream: true })).body?.cancel();
  const wrong = "sk-this-is-not-a-real-key-but-must-not-be-logged";
  (await t.post("/api/chat", wrong, chat)).body?.cancel();
  (await t.proxy("/api/tags", { headers: { "x-api-key": key } })).body?.cancel();
  (await t.admin("/api/api-keys")).body?.cancel();
  (await fetch(t.gateway.adminUrl + "/metrics", {
    headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
  })).body?.cancel();
  (await fetch(t.gateway.adminUrl + "/api/settings", {
    headers: { authorization: "Bearer wrong-password-guess" },
  })).body?.cancel();
  const all = t.logs.join("\n");
  assert.ok(requestLines(t).length >= 7);
  for (const secret of [key, hashApiKey(key), wrong, ADMIN_PASSWORD, "wrong-password-guess"]) {
    assert.ok(!all.includes(secret), `logs contain ${secret.slice(0, 12)}…`);
  }
});

Deno.test("LOG_FORMAT=json writes each request as one JSON object per line", async () => {
  const db = await createTestDatabase("sqlite");
  const mock = await startMockOllama();
  const gateway = await spawnGateway({
    DATABASE_URL: db.url,
    OLLAMA_URL: mock.url,
    LOG_FORMAT: "json",
    LOG_LEVEL: "info",
  });
  try {
    const res = await fetch(gateway.proxyUrl + "/api/tags", {
      headers: { "x-request-id": "json-line-1" },
    });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    let line: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !line; i++) {
      line = gateway.output().split("\n").filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l)).find((l) => l.request_id === "json-line-1");
      if (!line) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(line, gateway.output());
    assert.equal(line.level, "info");
    assert.equal(line.msg, "request");
    assert.equal(line.route, "/api/tags");
    assert.equal(line.status, 401);
    assert.equal(line.error, "missing_api_key");
    assert.equal(typeof line.time, "string");
    assert.equal(typeof line.duration_ms, "number");
    const started = gateway.output().split("\n").filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l)).find((l) => l.msg === "started");
    assert.equal(started?.proxy, gateway.proxyUrl, "the start-up report is JSON too");
  } finally {
    await gateway.stop();
    await mock.close();
    await db.drop();
  }
});
