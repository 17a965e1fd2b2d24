import assert from "node:assert/strict";
import { gatewayTest } from "../support/gateway.ts";

const chat = { model: "llama3", stream: false, messages: [{ role: "user", content: "hi" }] };

gatewayTest("GET and HEAD / answer 200 without a key", async (t) => {
  const get = await t.proxy("/");
  assert.equal(get.status, 200);
  assert.equal(await get.text(), "Ollama is running");
  const head = await t.proxy("/", { method: "HEAD" });
  assert.equal(head.status, 200);
  await head.body?.cancel();
});

gatewayTest("a key is accepted as Bearer, as a bare Authorization and as x-api-key", async (t) => {
  const { key } = await t.createKey();
  const styles: Record<string, string>[] = [
    { authorization: `Bearer ${key}` },
    { authorization: key },
    { "x-api-key": key },
    // OpenAI-style placeholder bearer next to a real x-api-key (Anthropic clients do this).
    { authorization: "Bearer ollama", "x-api-key": key },
  ];
  for (const headers of styles) {
    const res = await t.proxy("/api/chat", { method: "POST", headers, body: JSON.stringify(chat) });
    assert.equal(res.status, 200, JSON.stringify(headers));
    await res.body?.cancel();
  }
});

gatewayTest("each 401 reason has its own message and nothing reaches Ollama", async (t) => {
  const { key, id } = await t.createKey();
  const expired = await t.createKey({ expires_at: "2026-06-15T09:00:00Z" });
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{}, /Missing API key/],
    [{ authorization: "Bearer sk-not-a-real-key" }, /Invalid API key/],
    [{ authorization: `Bearer ${expired.key}` }, /expired/],
  ];
  for (const [headers, message] of cases) {
    const res = await t.proxy("/api/chat", { method: "POST", headers, body: JSON.stringify(chat) });
    assert.equal(res.status, 401);
    assert.match((await res.json()).error, message);
  }
  await t.admin(`/api/api-keys/${id}/deactivate`, { method: "PUT" });
  const res = await t.proxy("/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body: JSON.stringify({ ...chat, stream: undefined }),
  });
  assert.equal(res.status, 401);
  const body = await res.json();
  assert.match(body.error.message, /deactivated/);
  assert.equal(body.error.code, "api_key_deactivated");
  assert.equal(t.mock.inferenceCount(), 0);
});

gatewayTest("a key expires at its expiry instant", async (t) => {
  const { key } = await t.createKey({ expires_at: "2026-06-15T10:00:05Z" });
  const ok = await t.post("/api/chat", key, chat);
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  t.clock.set("2026-06-15T10:00:05Z");
  const refused = await t.post("/api/chat", key, chat);
  assert.equal(refused.status, 401);
  assert.match((await refused.json()).error, /expired/);
});

gatewayTest("a date-only expiry keeps the key usable through that day in APP_TZ", async (t) => {
  const { key } = await t.createKey({ expires_at: "2026-06-15" });
  t.clock.set("2026-06-15T21:59:00Z"); // 23:59 in Berlin
  const ok = await t.post("/api/chat", key, chat);
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  t.clock.set("2026-06-15T22:00:00Z"); // midnight in Berlin
  const refused = await t.post("/api/chat", key, chat);
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
});

gatewayTest("the client's Authorization and x-api-key never reach Ollama", async (t) => {
  const { key } = await t.createKey();
  const res = await t.post("/api/chat", key, chat, { "x-api-key": key, cookie: "a=b" });
  await res.body?.cancel();
  const tags = await t.proxy("/api/tags", { headers: { authorization: `Bearer ${key}` } });
  await tags.body?.cancel();
  assert.equal(t.mock.requests.length, 2);
  for (const r of t.mock.requests) {
    assert.equal(r.headers.get("authorization"), null);
    assert.equal(r.headers.get("x-api-key"), null);
    assert.equal(r.headers.get("cookie"), null);
    // Ollama's loopback Host check only passes for a local host name.
    assert.match(r.headers.get("host") ?? "", /^(127\.0\.0\.1|localhost)(:\d+)?$/);
  }
});

gatewayTest("model management routes are refused with 403 for every key", async (t) => {
  const { key } = await t.createKey();
  for (
    const [method, path] of [
      ["POST", "/api/pull"],
      ["POST", "/api/push"],
      ["POST", "/api/create"],
      ["POST", "/api/copy"],
      ["DELETE", "/api/delete"],
      ["POST", "/api/blobs/sha256:abc"],
    ]
  ) {
    const res = await t.proxy(path, {
      method,
      headers: { authorization: `Bearer ${key}` },
      body: "{}",
    });
    assert.equal(res.status, 403, path);
    assert.match((await res.json()).error, /not allowed/);
  }
  assert.equal(t.mock.requests.length, 0);
});

gatewayTest("unknown routes get 404 in the route family's shape", async (t) => {
  const { key } = await t.createKey();
  const native = await t.proxy("/api/nope", { headers: { authorization: `Bearer ${key}` } });
  assert.equal(native.status, 404);
  assert.equal(typeof (await native.json()).error, "string");
  const openai = await t.proxy("/v1/nope", { headers: { authorization: `Bearer ${key}` } });
  assert.equal(openai.status, 404);
  const body = await openai.json();
  assert.equal(typeof body.error.message, "string");
  assert.equal(body.error.type, "not_found_error");
});

gatewayTest(
  "bad JSON, a wrong content type and an invalid body get 400 in the route's shape",
  async (t) => {
    const { key } = await t.createKey();
    const bad = await t.post("/api/chat", key, "{not json");
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error, /Cannot parse/);
    const wrongType = await t.post("/api/generate", key, "<xml/>", {
      "content-type": "application/xml",
    });
    assert.equal(wrongType.status, 400);
    assert.match((await wrongType.json()).error, /content type/);
    const invalid = await t.post("/v1/chat/completions", key, { model: "llama3", messages: "hi" });
    assert.equal(invalid.status, 400);
    const body = await invalid.json();
    assert.match(body.error.message, /messages/);
    assert.equal(body.error.type, "invalid_request_error");
    assert.equal(t.mock.inferenceCount(), 0);
    // Refused input uses no quota.
    const usage = await t.usage((await (await t.admin("/api/api-keys")).json())[0].id);
    assert.equal(usage.today.requests, 0);
  },
);

gatewayTest("read-only routes need a key and use no quota", async (t) => {
  const { key, id } = await t.createKey({ daily_request_limit: 1 });
  const anonymous = await t.proxy("/api/tags");
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
  const auth = { authorization: `Bearer ${key}` };
  for (
    const path of [
      "/api/tags",
      "/api/version",
      "/api/versions",
      "/api/ps",
      "/v1/models",
      "/v1/models/llama3",
    ]
  ) {
    const res = await t.proxy(path, { headers: auth });
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
  const show = await t.proxy("/api/show", {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ model: "llama3" }),
  });
  assert.equal(show.status, 200);
  await show.body?.cancel();
  assert.equal((await t.usage(id)).today.requests, 0);
});
