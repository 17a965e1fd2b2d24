import assert from "node:assert/strict";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";
import { refusedPort } from "../support/ports.ts";
import { pointGatewayAt } from "../support/scripted_upstream.ts";

const chat = { model: "llama3", stream: false, messages: [{ role: "user", content: "hi" }] };

async function call(t: TestGateway, key: string, path = "/api/chat", body: unknown = chat) {
  const res = await t.post(path, key, body);
  const text = await res.text();
  return { status: res.status, text, headers: res.headers };
}

gatewayTest("daily request limit: N pass, N+1 is refused and never reaches Ollama", async (t) => {
  const { key, id } = await t.createKey({ daily_request_limit: 3 });
  for (let i = 0; i < 3; i++) assert.equal((await call(t, key)).status, 200);
  const refused = await call(t, key);
  assert.equal(refused.status, 429);
  assert.match(
    JSON.parse(refused.text).error,
    /Daily request limit reached \(3 requests per day\)/,
  );
  assert.equal(refused.headers.get("x-should-retry"), "false");
  // 10:00 UTC is 12:00 in Berlin: 12 hours to the reset.
  assert.equal(refused.headers.get("retry-after"), String(12 * 3600));
  assert.equal(t.mock.inferenceCount(), 3);
  assert.equal((await t.usage(id)).today.requests, 3);
});

gatewayTest("monthly request limit: N pass across days, N+1 is refused", async (t) => {
  const { key } = await t.createKey({ monthly_request_limit: 2 });
  assert.equal((await call(t, key)).status, 200);
  t.clock.set("2026-06-20T10:00:00Z");
  assert.equal((await call(t, key)).status, 200);
  t.clock.set("2026-06-25T10:00:00Z");
  const refused = await call(t, key, "/v1/chat/completions", { ...chat, stream: undefined });
  assert.equal(refused.status, 429);
  const err = JSON.parse(refused.text).error;
  assert.match(err.message, /Monthly request limit reached/);
  assert.equal(err.code, "monthly_request_limit_exceeded");
  assert.equal(t.mock.inferenceCount(), 2);
});

gatewayTest("daily token limit: requests pass until the tokens are used, then 429", async (t) => {
  // The mock reports 17 prompt + 3 completion tokens per chat: two use the 40 exactly.
  t.mock.set({ promptTokens: 17 });
  const { key, id } = await t.createKey({ daily_token_limit: 40 });
  assert.equal((await call(t, key)).status, 200);
  assert.equal((await call(t, key)).status, 200);
  assert.equal((await t.usage(id)).today.tokens, 40);
  const refused = await call(t, key);
  assert.equal(refused.status, 429);
  assert.match(JSON.parse(refused.text).error, /Daily token limit reached \(40 tokens per day\)/);
  assert.equal(t.mock.inferenceCount(), 2);
});

gatewayTest(
  "a token 429 with tokens left says the prompt does not fit what is left",
  async (t) => {
    // 7 prompt + 3 completion per chat: after three, 30 of 40 are used.
    const { key, id } = await t.createKey({ daily_token_limit: 40 });
    for (let i = 0; i < 3; i++) assert.equal((await call(t, key)).status, 200);
    assert.equal((await t.usage(id)).today.tokens, 30);
    const refused = await call(t, key);
    assert.equal(refused.status, 429);
    const message = JSON.parse(refused.text).error;
    assert.doesNotMatch(message, /reached/);
    assert.match(message, /needs up to \d+ tokens .* only 10 are left/);
    assert.equal(t.mock.inferenceCount(), 3);
  },
);

gatewayTest("a 429 counts in words: one token is left, not 'only 1 are left'", async (t) => {
  const { key, id } = await t.createKey({ daily_token_limit: 1000 });
  assert.equal((await call(t, key)).status, 200);
  const used = (await t.usage(id)).today.tokens;
  // One token more than is used: the next prompt cannot fit the one that is left.
  const patched = await t.admin(`/api/api-keys/${id}/quota`, {
    method: "PATCH",
    body: JSON.stringify({ daily_token_limit: used + 1 }),
  });
  assert.equal(patched.status, 200);
  await patched.body?.cancel();
  const refused = await call(t, key);
  assert.equal(refused.status, 429);
  assert.match(JSON.parse(refused.text).error, /but only 1 is left;/);
});

gatewayTest("monthly token limit: refused once the month's tokens are used", async (t) => {
  t.mock.set({ promptTokens: 27 });
  const { key } = await t.createKey({ monthly_token_limit: 30 });
  assert.equal((await call(t, key)).status, 200);
  t.clock.set("2026-06-16T10:00:00Z");
  const refused = await call(t, key);
  assert.equal(refused.status, 429);
  assert.match(JSON.parse(refused.text).error, /Monthly token limit reached/);
  assert.equal(t.mock.inferenceCount(), 1);
});

gatewayTest(
  "a prompt larger than the remaining token budget is refused before Ollama",
  async (t) => {
    const { key } = await t.createKey({ daily_token_limit: 5 });
    const long = { ...chat, messages: [{ role: "user", content: "word ".repeat(50) }] };
    const refused = await call(t, key, "/api/chat", long);
    assert.equal(refused.status, 429);
    assert.equal(t.mock.inferenceCount(), 0);
  },
);

gatewayTest("generation is capped by the remaining token budget", async (t) => {
  const { key } = await t.createKey({ daily_token_limit: 30 });
  await t.mock.set({ chunks: 50 });
  const res = await call(t, key, "/api/chat", { ...chat, options: { num_predict: 1000 } });
  assert.equal(res.status, 200);
  const sent = t.mock.requests.at(-1)!.body as { options: { num_predict: number } };
  // The prompt's bound for "hi" is 20 (its text, 4 for the message, 8 for the template):
  // at most 10 left for output.
  assert.equal(sent.options.num_predict, 10);
  const out = JSON.parse(res.text);
  assert.equal(out.done_reason, "length");
  const v1 = await call(t, key, "/v1/chat/completions", {
    ...chat,
    stream: undefined,
    max_tokens: 500,
  });
  assert.equal(v1.status, 429);
});

gatewayTest(
  "OpenAI max_tokens is capped and a key without token limits is left alone",
  async (t) => {
    const limited = await t.createKey({ daily_token_limit: 30 });
    const free = await t.createKey();
    const body = { model: "llama3", messages: [{ role: "user", content: "hi" }], max_tokens: 500 };
    assert.equal((await call(t, limited.key, "/v1/chat/completions", body)).status, 200);
    assert.ok((t.mock.requests.at(-1)!.body as { max_tokens: number }).max_tokens <= 25);
    assert.equal((await call(t, free.key, "/v1/chat/completions", body)).status, 200);
    assert.equal((t.mock.requests.at(-1)!.body as { max_tokens: number }).max_tokens, 500);
  },
);

gatewayTest("100 parallel requests on a 20-request key: exactly 20 reach Ollama", async (t) => {
  const { key, id } = await t.createKey({ daily_request_limit: 20 });
  t.mock.set({ firstByteDelayMs: 5 });
  const results = await Promise.all(Array.from({ length: 100 }, () => call(t, key)));
  const ok = results.filter((r) => r.status === 200).length;
  const refused = results.filter((r) => r.status === 429).length;
  assert.equal(ok, 20);
  assert.equal(refused, 80);
  assert.equal(t.mock.inferenceCount(), 20);
  assert.equal((await t.usage(id)).today.requests, 20);
});

gatewayTest("parallel requests on a token budget never overshoot it", async (t) => {
  // Each request asks for at most 20 output tokens; the mock counts the prompt as 5.
  const { key, id } = await t.createKey({ daily_token_limit: 200 });
  t.mock.set({ firstByteDelayMs: 5, chunks: 20, promptTokens: 5 });
  const body = { ...chat, options: { num_predict: 20 } };
  const results = await Promise.all(
    Array.from({ length: 40 }, () => call(t, key, "/api/chat", body)),
  );
  const used = (await t.usage(id)).today.tokens;
  assert.ok(used <= 200, `used ${used}`);
  // A request reserves its prompt's bound (20) and its 20 output tokens: five fit together.
  const admitted = results.filter((r) => r.status === 200).length;
  assert.ok(admitted >= 5 && admitted < 40, `admitted ${admitted}`);
});

gatewayTest(
  "every proxied answer carries x-ratelimit headers for the tightest window",
  async (t) => {
    const { key } = await t.createKey({
      daily_request_limit: 10,
      monthly_request_limit: 3,
      daily_token_limit: 1000,
    });
    const res = await call(t, key);
    assert.equal(res.headers.get("x-ratelimit-limit-requests"), "3");
    assert.equal(res.headers.get("x-ratelimit-remaining-requests"), "2");
    // Reset of the monthly window: from 2026-06-15 12:00 Berlin to 2026-07-01 00:00 Berlin.
    assert.equal(res.headers.get("x-ratelimit-reset-requests"), "372h0m0s");
    assert.equal(res.headers.get("x-ratelimit-limit-tokens"), "1000");
    assert.ok(Number(res.headers.get("x-ratelimit-remaining-tokens")) < 1000);
    assert.equal(res.headers.get("x-ratelimit-reset-tokens"), "12h0m0s");
  },
);

gatewayTest(
  "a stream:false answer's x-ratelimit headers say what is left after its charge, not its reservation",
  async (t) => {
    // The mock reports 17 prompt + 3 completion tokens: 20 charged of 1000.
    t.mock.set({ promptTokens: 17 });
    const { key, id } = await t.createKey({ daily_request_limit: 10, daily_token_limit: 1000 });
    const res = await call(t, key);
    assert.equal(res.status, 200);
    assert.equal((await t.usage(id)).today.tokens, 20);
    assert.equal(res.headers.get("x-ratelimit-remaining-tokens"), "980");
    assert.equal(res.headers.get("x-ratelimit-remaining-requests"), "9");
  },
);

gatewayTest(
  "a request that cost nothing (Ollama unreachable) answers with its reservation given back",
  async (t) => {
    const { key, id } = await t.createKey({ daily_request_limit: 10, daily_token_limit: 1000 });
    await pointGatewayAt(t, `http://127.0.0.1:${refusedPort()}`);
    for (const path of ["/api/chat", "/v1/chat/completions"]) {
      const res = await call(t, key, path, chat);
      assert.equal(res.status, 502, path);
      assert.match(res.text, /Nothing was charged/);
      assert.equal(res.headers.get("x-ratelimit-remaining-tokens"), "1000", path);
      assert.equal(res.headers.get("x-ratelimit-remaining-requests"), "10", path);
    }
    const today = (await t.usage(id)).today;
    assert.deepEqual([today.requests, today.tokens], [0, 0]);
  },
);

gatewayTest("the day quota resets at Berlin midnight, not UTC midnight", async (t) => {
  const { key } = await t.createKey({ daily_request_limit: 1 });
  t.clock.set("2026-06-15T21:30:00Z"); // 23:30 Berlin
  assert.equal((await call(t, key)).status, 200);
  t.clock.set("2026-06-15T21:59:59Z");
  assert.equal((await call(t, key)).status, 429);
  t.clock.set("2026-06-15T22:00:00Z"); // 00:00 Berlin, still the 15th in UTC
  assert.equal((await call(t, key)).status, 200);
});

gatewayTest(
  "quota resets at Berlin midnight across the spring DST change (23-hour day)",
  async (t) => {
    const { key } = await t.createKey({ daily_request_limit: 1 });
    t.clock.set("2026-03-28T23:00:00Z"); // 00:00 on 29 March, a 23-hour day
    assert.equal((await call(t, key)).status, 200);
    t.clock.set("2026-03-29T21:59:59Z"); // 23:59:59 CEST
    const refused = await call(t, key);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("retry-after"), "1");
    t.clock.set("2026-03-29T22:00:00Z"); // 00:00 on 30 March
    assert.equal((await call(t, key)).status, 200);
  },
);

gatewayTest(
  "quota resets at Berlin midnight across the autumn DST change (25-hour day)",
  async (t) => {
    const { key } = await t.createKey({ daily_request_limit: 1 });
    t.clock.set("2026-10-24T22:00:00Z"); // 00:00 on 25 October, a 25-hour day
    assert.equal((await call(t, key)).status, 200);
    t.clock.set("2026-10-25T22:30:00Z"); // 23:30 CET: still the 25th, 24.5 hours later
    assert.equal((await call(t, key)).status, 429);
    t.clock.set("2026-10-25T23:00:00Z"); // 00:00 on 26 October
    assert.equal((await call(t, key)).status, 200);
  },
);

gatewayTest("the month quota resets at Berlin midnight on the first", async (t) => {
  const { key } = await t.createKey({ monthly_request_limit: 1 });
  t.clock.set("2026-06-30T21:59:00Z"); // 23:59 on 30 June in Berlin
  assert.equal((await call(t, key)).status, 200);
  assert.equal((await call(t, key)).status, 429);
  t.clock.set("2026-06-30T22:00:00Z"); // 00:00 on 1 July in Berlin
  assert.equal((await call(t, key)).status, 200);
});
