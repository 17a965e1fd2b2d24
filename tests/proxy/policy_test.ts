/**
 * Per-key policies through the real listeners: model allowlists on every route and listing,
 * per-minute limits, concurrency, output and context caps, idle expiry.
 * @module
 */
import assert from "node:assert/strict";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";
import { rawQuery } from "../support/raw_query.ts";
import { MAX_USAGE_ROWS } from "../../core/analytics/usage.ts";

const messages = [{ role: "user", content: "hi" }];

/** A body per inference route, for a model. */
const BODIES: Array<[string, (model: string) => Record<string, unknown>]> = [
  ["/api/chat", (model) => ({ model, stream: false, messages })],
  ["/api/generate", (model) => ({ model, stream: false, prompt: "hi" })],
  ["/api/embed", (model) => ({ model, input: "hi" })],
  ["/api/embeddings", (model) => ({ model, prompt: "hi" })],
  ["/v1/chat/completions", (model) => ({ model, messages })],
  ["/v1/completions", (model) => ({ model, prompt: "hi" })],
  ["/v1/embeddings", (model) => ({ model, input: "hi" })],
  ["/v1/messages", (model) => ({ model, max_tokens: 10, messages })],
  ["/v1/responses", (model) => ({ model, input: "hi" })],
];

async function send(t: TestGateway, path: string, key: string, body: unknown) {
  const res = await t.post(path, key, body);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

async function get(t: TestGateway, path: string, key: string) {
  const res = await t.proxy(path, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, json: await res.json() };
}

gatewayTest(
  "a model allowlist admits aliases and globs and refuses the rest, on every route",
  async (t) => {
    t.mock.set({ models: ["llama3:latest", "qwen3:8b", "qwen3:32b", "all-minilm:latest"] });
    const { key, id } = await t.createKey({ models: ["llama3", "qwen3:*", "all-minilm"] });
    for (const [path, body] of BODIES) {
      const embeds = path.includes("embed");
      for (
        const model of embeds ? ["all-minilm:latest"] : ["llama3:latest", "qwen3:32b", "LLAMA3"]
      ) {
        const res = await send(t, path, key, body(model));
        assert.equal(res.status, 200, `${path} ${model}: ${res.text.slice(0, 200)}`);
      }
      const refused = await send(t, path, key, body("mistral"));
      assert.equal(refused.status, 403, `${path}: ${refused.text}`);
      const error = JSON.parse(refused.text);
      if (path === "/v1/messages") {
        assert.deepEqual(error.error.type, "permission_error");
        assert.match(error.error.message, /"mistral" is not allowed/);
      } else if (path.startsWith("/v1/")) {
        assert.equal(error.error.code, "model_not_allowed");
        assert.doesNotMatch(error.error.message, /llama3|qwen3/, "names only the requested model");
      } else {
        assert.match(error.error, /"mistral" is not allowed/);
      }
    }
    const inference = t.mock.inferenceCount();
    assert.equal(inference, 3 * 1 + 6 * 3, "the refused requests never reached Ollama");
    const usage = (await t.usage(id)).today;
    assert.equal(usage.requests, inference, "refusals cost nothing");
  },
);

gatewayTest(
  "a refusal by the key's own model list is a counted refusal: 403, refused_model, logged",
  async (t) => {
    t.mock.set({ models: ["llama3:latest", "mistral:latest"] });
    const { key, id } = await t.createKey({ models: ["llama3"] });
    assert.equal((await send(t, "/api/chat", key, BODIES[0][1]("llama3"))).status, 200);
    for (const [path, body] of [BODIES[0], BODIES[4]]) {
      const refused = await send(t, path, key, body("mistral"));
      assert.equal(refused.status, 403, `${path}: ${refused.text}`);
      const error = JSON.parse(refused.text);
      const message = typeof error.error === "string" ? error.error : error.error.message;
      assert.equal(message, 'Model "mistral" is not allowed for this API key');
    }
    assert.equal(t.mock.inferenceCount(), 1, "the refused requests never reached Ollama");
    assert.equal((await t.usage(id)).today.requests, 1, "refusals cost nothing");
    const day = {
      fromMs: Date.parse("2026-06-15T00:00:00Z"),
      toMs: Date.parse("2026-06-16T00:00:00Z"),
    };
    const store = t.gateway.deps.store;
    const rows = await store.usage({ ...day, timeZone: "UTC", groupBy: ["model"] });
    // Recorded canonically, as every model name (the error above keeps the client's spelling).
    const mistral = rows.find((r) => r.model === "mistral:latest")!;
    assert.deepEqual(
      [mistral.requests, mistral.refused, mistral.refused_model, mistral.refused_other],
      [2, 2, 2, 0],
    );
    const log = (await store.requestLog({ ...day, limit: 100 })).filter((r) => r.key_id === id);
    assert.deepEqual(
      log.filter((r) => r.status === "refused").map((r) => [r.refused_by, r.http_status]),
      [["model_not_allowed", 403], ["model_not_allowed", 403]],
    );
    assert.deepEqual(await store.auditRollups(), []);
  },
);

gatewayTest(
  "listings show only the key's models and keep working when a quota is used up",
  async (t) => {
    t.mock.set({ models: ["llama3:latest", "qwen3:8b", "mistral:latest"] });
    const { key } = await t.createKey({ models: ["llama3", "qwen3:*"], daily_request_limit: 0 });
    const tags = await get(t, "/api/tags", key);
    assert.equal(tags.status, 200);
    assert.deepEqual(tags.json.models.map((m: { name: string }) => m.name), [
      "llama3:latest",
      "qwen3:8b",
    ]);
    const models = await get(t, "/v1/models", key);
    assert.deepEqual(models.json.data.map((m: { id: string }) => m.id), [
      "llama3:latest",
      "qwen3:8b",
    ]);
    assert.equal((await get(t, "/v1/models/qwen3:8b", key)).status, 200);
    const hidden = await get(t, "/v1/models/mistral", key);
    assert.equal(hidden.status, 404);
    assert.match(hidden.json.error.message, /model 'mistral' not found/);
    // /api/show of a model the key may not use: refused, also under a case variant of the field.
    for (
      const body of [{ model: "mistral" }, { name: "mistral" }, {
        model: "llama3",
        MODEL: "mistral",
      }]
    ) {
      const show = await send(t, "/api/show", key, body);
      assert.equal(show.status, 403, JSON.stringify(body));
    }
    assert.equal((await send(t, "/api/show", key, { model: "llama3" })).status, 200);
    // A key without a list sees everything.
    const free = await t.createKey();
    assert.equal((await get(t, "/api/tags", free.key)).json.models.length, 3);
  },
);

gatewayTest(
  "an empty model list is refused; null allows every model again",
  async (t) => {
    const res = await t.admin("/api/api-keys", {
      method: "POST",
      body: JSON.stringify({ name: "k", models: [] }),
    });
    assert.equal(res.status, 422);
    assert.match((await res.json()).error, /models/);
    const { key, id } = await t.createKey({ models: ["llama3"] });
    assert.equal((await send(t, "/api/chat", key, BODIES[0][1]("llama3.2"))).status, 403);
    const patch = await t.admin(`/api/api-keys/${id}`, {
      method: "PATCH",
      body: JSON.stringify({ models: null }),
    });
    assert.equal((await patch.json()).models, null);
    assert.equal((await send(t, "/api/chat", key, BODIES[0][1]("llama3.2"))).status, 200);
  },
);

gatewayTest("requests per minute: N pass, N+1 is refused, the next minute passes", async (t) => {
  t.clock.set("2026-06-15T10:00:15Z");
  const { key, id } = await t.createKey({ requests_per_minute: 3, daily_request_limit: 100 });
  for (let i = 0; i < 3; i++) {
    const ok = await send(t, "/v1/chat/completions", key, { model: "llama3", messages });
    assert.equal(ok.status, 200);
    // The minute is the tightest window: the headers describe it.
    assert.equal(ok.headers.get("x-ratelimit-limit-requests"), "3");
    assert.equal(ok.headers.get("x-ratelimit-remaining-requests"), String(2 - i));
    assert.equal(ok.headers.get("x-ratelimit-reset-requests"), "45s");
  }
  const refused = await send(t, "/v1/chat/completions", key, { model: "llama3", messages });
  assert.equal(refused.status, 429);
  const error = JSON.parse(refused.text).error;
  assert.equal(error.code, "requests_per_minute");
  assert.match(error.message, /3 requests per minute/);
  assert.equal(refused.headers.get("retry-after"), "45");
  assert.equal(t.mock.inferenceCount(), 3);
  t.clock.set("2026-06-15T10:01:00Z");
  assert.equal(
    (await send(t, "/v1/chat/completions", key, { model: "llama3", messages })).status,
    200,
  );
  assert.equal((await t.usage(id)).today.requests, 4);
});

gatewayTest("tokens per minute hold for streams: reserved, then settled", async (t) => {
  t.mock.set({ chunks: 30, chunkDelayMs: 5 });
  // "hi" reserves its bound (20) and, without max_tokens, the rest of the minute's 100.
  const { key } = await t.createKey({ tokens_per_minute: 100 });
  const stream = await t.post("/api/chat", key, { model: "llama3", messages });
  assert.equal(stream.status, 200);
  const refused = await send(t, "/api/chat", key, { model: "llama3", stream: false, messages });
  assert.equal(refused.status, 429);
  assert.match(JSON.parse(refused.text).error, /reserved by requests still running/);
  await stream.text();
  // Settled: 7 prompt + 30 completion used; 63 left in this minute.
  const ok = await send(t, "/api/chat", key, {
    model: "llama3",
    stream: false,
    messages,
    options: { num_predict: 10 },
  });
  assert.equal(ok.status, 200, ok.text);
  const tight = await send(t, "/api/chat", key, { model: "llama3", stream: false, messages });
  assert.equal(tight.status, 200);
  assert.ok((t.mock.requests.at(-1)!.decoded!.numPredict) <= 100 - 37 - 17 - 20);
  t.clock.set("2026-06-15T10:01:00Z");
  const refusedCode = await send(t, "/v1/chat/completions", key, {
    model: "llama3",
    messages,
    max_tokens: 200,
  });
  assert.equal(refusedCode.status, 200, "a new minute, a new budget");
});

gatewayTest("max_concurrent: a third request waits for one of two streams to end", async (t) => {
  t.mock.set({ chunks: 1000, chunkDelayMs: 10 });
  const { key } = await t.createKey({ max_concurrent: 2 });
  const a = await t.post("/api/chat", key, { model: "llama3", messages });
  const b = await t.post("/api/chat", key, { model: "llama3", messages });
  assert.deepEqual([a.status, b.status], [200, 200]);
  const third = await send(t, "/api/chat", key, { model: "llama3", stream: false, messages });
  assert.equal(third.status, 429);
  assert.match(JSON.parse(third.text).error, /2 requests at a time/);
  assert.equal(third.headers.get("retry-after"), "1");
  await a.body?.cancel();
  // The stream the client left is settled, and its slot freed.
  let status = 429;
  for (let i = 0; i < 100 && status === 429; i++) {
    const probe = { model: "llama3", stream: false, messages, options: { num_predict: 1 } };
    status = (await send(t, "/api/chat", key, probe)).status;
    if (status === 429) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(status, 200);
  await b.body?.cancel();
});

gatewayTest("max_output_tokens caps the generation on every generating route", async (t) => {
  t.mock.set({ chunks: 500 });
  const { key } = await t.createKey({ max_output_tokens: 16 });
  for (const [path, body] of BODIES.filter(([p]) => !p.includes("embed"))) {
    const res = await send(t, path, key, { ...body("llama3"), max_tokens: 4000 });
    assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 200)}`);
    assert.equal(t.mock.requests.at(-1)!.decoded!.numPredict, 16, path);
  }
  // A lower limit of the client's own stays.
  await send(t, "/api/chat", key, { ...BODIES[0][1]("llama3"), options: { num_predict: 5 } });
  assert.equal(t.mock.requests.at(-1)!.decoded!.numPredict, 5);
});

gatewayTest(
  "max_num_ctx clamps num_ctx, and a prompt larger than it is a 413 before Ollama",
  async (t) => {
    const { key } = await t.createKey({ max_num_ctx: 2048 });
    const ok = await send(t, "/api/chat", key, {
      model: "llama3",
      stream: false,
      messages,
      options: { num_ctx: 65536 },
    });
    assert.equal(ok.status, 200);
    assert.equal(t.mock.requests.at(-1)!.decoded!.numCtx, 2048);
    const before = t.mock.inferenceCount();
    const big = await send(t, "/api/chat", key, {
      model: "llama3",
      stream: false,
      messages: [{ role: "user", content: "lorem ipsum dolor sit amet ".repeat(2000) }],
    });
    assert.equal(big.status, 413);
    assert.match(JSON.parse(big.text).error, /larger than this key's context limit of 2048/);
    assert.equal(t.mock.inferenceCount(), before);
  },
);

gatewayTest("a key unused for idle_days counts as expired, with its own message", async (t) => {
  const { key, id } = await t.createKey({ idle_days: 7 });
  assert.equal((await send(t, "/api/chat", key, BODIES[0][1]("llama3"))).status, 200);
  t.clock.set("2026-06-22T09:59:00Z"); // 6 days 23:59 later
  assert.equal((await send(t, "/api/chat", key, BODIES[0][1]("llama3"))).status, 200);
  t.clock.set("2026-06-29T10:00:00Z"); // 7 days after the last use
  const refused = await send(t, "/api/chat", key, BODIES[0][1]("llama3"));
  assert.equal(refused.status, 401);
  assert.match(JSON.parse(refused.text).error, /unused for 7 days/);
  const keys = await (await t.admin("/api/api-keys")).json();
  assert.equal(keys.find((k: { id: number }) => k.id === id).status, "idle");
  // Reactivating restarts the clock.
  const activate = await t.admin(`/api/api-keys/${id}/activate`, { method: "PUT" });
  assert.equal((await activate.json()).status, "active");
  assert.equal((await send(t, "/api/chat", key, BODIES[0][1]("llama3"))).status, 200);
});

gatewayTest(
  "GET /v1/usage tells a key holder what is left, as the x-ratelimit headers do",
  async (t) => {
    const { key } = await t.createKey({
      daily_request_limit: 10,
      monthly_token_limit: 1000,
      requests_per_minute: 5,
    });
    const answered = await send(t, "/v1/chat/completions", key, { model: "llama3", messages });
    assert.equal(answered.status, 200);
    for (const path of ["/v1/usage", "/api/usage"]) {
      const res = await get(t, path, key);
      assert.equal(res.status, 200);
      const by = (limit: string) =>
        res.json.limits.find((l: { limit: string }) => l.limit === limit);
      assert.deepEqual(
        [by("daily_request_limit").used, by("daily_request_limit").remaining],
        [1, 9],
      );
      assert.equal(by("daily_request_limit").resets_at, "2026-06-16T00:00:00+02:00");
      assert.equal(by("requests_per_minute").remaining, 4);
      assert.equal(
        by("requests_per_minute").remaining,
        Number(answered.headers.get("x-ratelimit-remaining-requests")),
        "the tightest request window agrees with the headers",
      );
      // Tokens: the headers counted this request's reservation; settled, it used 7 + 3.
      assert.deepEqual(
        [by("monthly_token_limit").used, by("monthly_token_limit").remaining],
        [10, 990],
      );
      // The history's counters, each read from the rollups (UsageQuery.counters names them).
      assert.deepEqual(
        res.json.days.map((
          d: { model: string; requests: number; prompt_tokens: number; completion_tokens: number },
        ) => [d.model, d.requests, d.prompt_tokens, d.completion_tokens]),
        [["llama3:latest", 1, 7, 3]],
      );
    }
    assert.equal(t.mock.inferenceCount(), 1, "asking never reaches Ollama");
    assert.equal((await get(t, "/v1/usage", "sk-nope")).status, 401);
  },
);

gatewayTest(
  "GET /v1/usage keeps 30 days per model after the request log's retention deleted the rows",
  async (t) => {
    const { key } = await t.createKey({});
    assert.equal((await send(t, "/api/chat", key, { model: "llama3", messages })).status, 200);
    // Ten days later, with a request log kept one day, the maintenance deletes that row.
    t.clock.set("2026-06-25T10:00:00Z");
    const m = await t.gateway.deps.store.maintainAnalytics({
      nowMs: t.clock.now().epochMilliseconds,
      timeZone: "Europe/Berlin",
      requestLogRetentionDays: 1,
      rollup15mRetentionDays: 35,
    });
    assert.ok(m.deletedRequests >= 1, "the log row is gone");
    // Another spelling of the same model: one series, under the canonical name.
    const again = { model: "Llama3:latest", messages };
    assert.equal((await send(t, "/api/chat", key, again)).status, 200);
    const res = await get(t, "/v1/usage", key);
    assert.deepEqual(
      res.json.days.map((d: { day: string; model: string; requests: number }) => [
        d.day,
        d.model,
        d.requests,
      ]),
      [["2026-06-15", "llama3:latest", 1], ["2026-06-25", "llama3:latest", 1]],
    );
  },
);

gatewayTest(
  "GET /v1/usage of a key with more day and model rows than an answer may have: a 422, bounded",
  async (t) => {
    const { key, id } = await t.createKey({});
    // A model name each (refused ones are the client's text), straight into the key's rollup;
    // removed again before close() audits the rollups against the ledger.
    const bucket = Math.floor(t.clock.now().epochMilliseconds / 900_000) * 900_000;
    const rollup = (sql: string, params: number[] = []) =>
      rawQuery(t.dialect, t.db.url, sql, params);
    await rollup(
      `INSERT INTO usage_15m (key_id, bucket, model, route, requests)
         WITH RECURSIVE n(i) AS (
           SELECT CAST(? AS INTEGER) UNION ALL SELECT i + 1 FROM n WHERE i < CAST(? AS INTEGER)
         )
         SELECT CAST(? AS INTEGER), CAST(? AS BIGINT), 'zz-' || CAST(i AS TEXT), '/api/chat', 1
           FROM n`,
      [1, MAX_USAGE_ROWS + 1, id, bucket],
    );
    try {
      const res = await get(t, "/v1/usage", key);
      assert.equal(res.status, 422);
      assert.equal(res.json.error.code, "usage_too_large");
      assert.match(res.json.error.message, /too many to list/);
    } finally {
      await rollup("DELETE FROM usage_15m WHERE model LIKE 'zz-%'");
    }
  },
);
