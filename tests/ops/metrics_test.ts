import assert from "node:assert/strict";
import { ADMIN_PASSWORD, gatewayTest, type TestGateway } from "../support/gateway.ts";
import { parsePrometheus, type Sample, valueOf } from "./prometheus_text.ts";

const METRICS_TOKEN = "scrape-token-0123456789";
const chat = { model: "llama3", stream: false, messages: [{ role: "user", content: "hi" }] };

async function scrape(t: TestGateway): Promise<Sample[]> {
  const res = await fetch(t.gateway.adminUrl + "/metrics", {
    headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
  });
  assert.equal(res.status, 200);
  return parsePrometheus(await res.text());
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const requests = (listener: string, route: string, status: string) => ({
  listener,
  route,
  status,
});

gatewayTest(
  "GET /metrics answers the admin password or METRICS_TOKEN, and nobody else",
  async (t) => {
    const get = (authorization?: string) =>
      fetch(t.gateway.adminUrl + "/metrics", { headers: authorization ? { authorization } : {} });
    for (const refused of [undefined, "Bearer wrong", `Bearer ${METRICS_TOKEN}x`, METRICS_TOKEN]) {
      const res = await get(refused);
      assert.equal(res.status, 401, String(refused));
      await res.body?.cancel();
    }
    for (const accepted of [`Bearer ${ADMIN_PASSWORD}`, `Bearer ${METRICS_TOKEN}`]) {
      const res = await get(accepted);
      assert.equal(res.status, 200, accepted);
      assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      parsePrometheus(await res.text());
    }
  },
  { env: { METRICS_TOKEN } },
);

gatewayTest("the proxy listener does not serve /metrics, even to a valid key", async (t) => {
  const { key } = await t.createKey();
  const res = await t.proxy("/metrics", { headers: { authorization: `Bearer ${key}` } });
  assert.equal(res.status, 404);
  await res.body?.cancel();
});

gatewayTest("requests are counted by listener, route pattern and final status", async (t) => {
  const { key } = await t.createKey();
  (await t.post("/api/chat", key, chat)).body?.cancel();
  (await t.proxy("/api/chat", { method: "POST", body: JSON.stringify(chat) })).body?.cancel();
  const model = await t.proxy("/v1/models/llama3", { headers: { authorization: `Bearer ${key}` } });
  await model.body?.cancel();
  const unknown = await t.proxy("/no/such/route", { headers: { authorization: `Bearer ${key}` } });
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();
  const m = await scrape(t);
  assert.equal(valueOf(m, "llmq_requests_total", requests("proxy", "/api/chat", "200")), 1);
  assert.equal(valueOf(m, "llmq_requests_total", requests("proxy", "/api/chat", "401")), 1);
  assert.equal(
    valueOf(m, "llmq_requests_total", requests("proxy", "/v1/models/:model", "200")),
    1,
    "a path parameter never becomes a label value",
  );
  assert.equal(valueOf(m, "llmq_requests_total", requests("proxy", "other", "404")), 1);
  assert.equal(
    valueOf(m, "llmq_requests_total", requests("admin", "/api/api-keys", "201")),
    1,
    "the admin listener is counted too",
  );
});

gatewayTest("quota rejections are counted by the limit that refused them", async (t) => {
  const { key } = await t.createKey({ daily_request_limit: 1 });
  assert.equal((await t.post("/api/chat", key, chat)).status, 200);
  for (let i = 0; i < 2; i++) {
    const refused = await t.post("/api/chat", key, chat);
    assert.equal(refused.status, 429);
    await refused.body?.cancel();
  }
  const m = await scrape(t);
  assert.equal(valueOf(m, "llmq_quota_rejections_total", { limit: "daily_requests" }), 2);
  assert.equal(valueOf(m, "llmq_quota_rejections_total", { limit: "daily_tokens" }), undefined);
  assert.equal(valueOf(m, "llmq_requests_total", requests("proxy", "/api/chat", "429")), 2);
});

gatewayTest("tokens in and out are counted as they are charged", async (t) => {
  const { key, id } = await t.createKey();
  (await t.post("/api/chat", key, chat)).body?.cancel();
  const streamed = await t.post("/v1/chat/completions", key, { ...chat, stream: true });
  await streamed.text();
  const usage = await t.usage(id);
  const m = await scrape(t);
  const tokens = (route: string, direction: string) =>
    valueOf(m, "llmq_tokens_total", { route, direction }) ?? 0;
  assert.ok(usage.today.prompt_tokens > 0 && usage.today.completion_tokens > 0);
  assert.equal(
    tokens("/api/chat", "in") + tokens("/v1/chat/completions", "in"),
    usage.today.prompt_tokens,
  );
  assert.equal(
    tokens("/api/chat", "out") + tokens("/v1/chat/completions", "out"),
    usage.today.completion_tokens,
  );
  assert.ok(tokens("/v1/chat/completions", "out") > 0, "streamed tokens are counted too");
});

gatewayTest("upstream time to first byte and duration are observed per route", async (t) => {
  t.mock.set({ firstByteDelayMs: 150 });
  const { key } = await t.createKey();
  (await t.post("/api/chat", key, chat)).body?.cancel();
  const m = await scrape(t);
  const route = { route: "/api/chat" };
  assert.equal(valueOf(m, "llmq_upstream_ttfb_seconds_count", route), 1);
  assert.equal(valueOf(m, "llmq_upstream_ttfb_seconds_bucket", { ...route, le: "0.1" }), 0);
  assert.equal(valueOf(m, "llmq_upstream_ttfb_seconds_bucket", { ...route, le: "+Inf" }), 1);
  assert.ok(valueOf(m, "llmq_upstream_ttfb_seconds_sum", route)! >= 0.15);
  assert.equal(valueOf(m, "llmq_upstream_duration_seconds_count", route), 1);
  assert.ok(valueOf(m, "llmq_upstream_duration_seconds_sum", route)! >= 0.15);
});

gatewayTest(
  "a running stream is in flight until it ends; a client that leaves counts as 499",
  async (t) => {
    t.mock.set({ hang: true, chunkDelayMs: 20 });
    const { key } = await t.createKey();
    const inFlight = async () => valueOf(await scrape(t), "llmq_streams_in_flight");
    assert.equal(await inFlight(), 0);
    const res = await t.post("/api/chat", key, { model: "llama3", messages: chat.messages });
    const reader = res.body!.getReader();
    await reader.read();
    await until(async () => await inFlight() === 1, "the stream to be in flight");
    await reader.cancel();
    await until(async () => await inFlight() === 0, "the stream to end");
    const m = await scrape(t);
    assert.equal(valueOf(m, "llmq_requests_total", requests("proxy", "/api/chat", "499")), 1);
    assert.equal(
      valueOf(m, "llmq_upstream_duration_seconds_count", { route: "/api/chat" }),
      undefined,
      "a cut-short answer says nothing about Ollama's speed",
    );
  },
);

gatewayTest("store calls are timed by operation", async (t) => {
  const { key } = await t.createKey();
  (await t.post("/api/chat", key, chat)).body?.cancel();
  const m = await scrape(t);
  for (const op of ["findKeyByHash", "admit", "settle", "createKey"]) {
    assert.ok((valueOf(m, "llmq_db_duration_seconds_count", { op }) ?? 0) >= 1, op);
  }
});

gatewayTest("metrics carry no per-key labels by default", async (t) => {
  const { key } = await t.createKey({ name: "team-alpha" });
  (await t.post("/api/chat", key, chat)).body?.cancel();
  const text = await (await fetch(t.gateway.adminUrl + "/metrics", {
    headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
  })).text();
  assert.ok(!text.includes("team-alpha"));
  assert.ok(!/[{,]key="/.test(text));
  assert.ok(!text.includes(key.slice(0, 11)), "nor a key prefix");
});

gatewayTest("METRICS_KEY_LABELS=true adds the key's name as a label", async (t) => {
  const { key } = await t.createKey({ name: 'team "alpha"' });
  (await t.post("/api/chat", key, chat)).body?.cancel();
  const m = await scrape(t);
  assert.equal(
    valueOf(m, "llmq_requests_total", {
      ...requests("proxy", "/api/chat", "200"),
      key: 'team "alpha"',
    }),
    1,
  );
  assert.ok(
    (valueOf(m, "llmq_tokens_total", {
      route: "/api/chat",
      direction: "out",
      key: 'team "alpha"',
    }) ??
      0) > 0,
  );
}, { env: { METRICS_KEY_LABELS: "true" } });
