/**
 * Several gateway processes on one database keep every quota exact.
 * @module
 */
import assert from "node:assert/strict";
import { createTestDatabase, type Dialect, testDialects } from "../support/databases.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { type MockBehaviour, type MockOllama, startMockOllama } from "../support/mock_ollama.ts";
import { type GatewayProcess, spawnGateway } from "../support/processes.ts";

const chat = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    model: "llama3",
    stream: false,
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  });

/** Two gateway processes on one fresh database in front of one mock, and what tests need. */
interface TwoGateways {
  gateways: GatewayProcess[];
  mock: MockOllama;
  /** Creates a key (or a group, with `path`) through the first gateway's admin API. */
  create(body: Record<string, unknown>, path?: string): Promise<{ id: number; key: string }>;
  /** Sends `n` chats spread over both gateways, with `keyOf(i)`; returns their statuses. */
  burst(n: number, keyOf: (i: number) => string, body?: string): Promise<number[]>;
}

async function withTwoGateways(
  dialect: Dialect,
  behaviour: MockBehaviour,
  fn: (t: TwoGateways) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const db = await createTestDatabase(dialect);
  const mock = await startMockOllama(behaviour);
  const gateways: GatewayProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      gateways.push(
        await spawnGateway({
          DATABASE_URL: db.url,
          OLLAMA_URL: mock.url,
          LOG_LEVEL: "warn",
          ...env,
        }),
      );
    }
    await fn({
      gateways,
      mock,
      create: (body, path = "/api/api-keys") =>
        fetch(gateways[0].adminUrl + path, {
          method: "POST",
          headers: {
            authorization: `Bearer ${ADMIN_PASSWORD}`,
            "content-type": "application/json",
          },
          body: JSON.stringify(body),
        }).then((r) => r.json()),
      burst: (n, keyOf, body = chat()) =>
        Promise.all(Array.from({ length: n }, async (_, i) => {
          const res = await fetch(gateways[i % 2].proxyUrl + "/api/chat", {
            method: "POST",
            headers: { authorization: `Bearer ${keyOf(i)}` },
            body,
          });
          await res.body?.cancel();
          return res.status;
        })),
    });
  } finally {
    for (const g of gateways) assert.equal(await g.stop(), 0, g.output());
    await mock.close();
    await db.drop();
  }
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] two gateway processes on one database admit exactly the limit`, () =>
    withTwoGateways(dialect, { firstByteDelayMs: 2, promptTokens: 5, chunks: 20 }, async (t) => {
      const usage = async (id: number) =>
        (await (await fetch(t.gateways[1].adminUrl + "/api/api-keys", {
          headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
        })).json()).find((k: { id: number }) => k.id === id).usage.today;

      // Requests: 200 in parallel over both gateways on a 50-request key.
      const requestsKey = await t.create({ name: "requests", daily_request_limit: 50 });
      const statuses = await t.burst(200, () => requestsKey.key);
      assert.deepEqual([count(statuses, 200), count(statuses, 429)], [50, 150]);
      assert.equal(t.mock.inferenceCount(), 50);
      assert.equal((await usage(requestsKey.id)).requests, 50);

      // Tokens: every request reserves its bound, so the limit holds whatever Ollama counts.
      const tokensKey = await t.create({ name: "tokens", daily_token_limit: 1000 });
      const tokenStatuses = await t.burst(
        200,
        () => tokensKey.key,
        chat({ options: { num_predict: 20 } }),
      );
      const tokens = await usage(tokensKey.id);
      assert.ok(tokens.tokens <= 1000, `used ${tokens.tokens} of 1000`);
      // Each admitted request used its 5 prompt tokens and at most its 20 output tokens (the
      // last ones are capped to what was left).
      const admitted = count(tokenStatuses, 200);
      assert.ok(tokens.tokens <= 25 * admitted, `used ${tokens.tokens} by ${admitted} requests`);
      assert.equal(tokens.requests, admitted);
      assert.ok(tokens.tokens >= 500, `only ${tokens.tokens} of 1000 tokens were usable`);
    }));

  Deno.test(
    `[${dialect}] two gateway processes: requests_per_minute 50 admits exactly 50 of 200`,
    () =>
      withTwoGateways(dialect, { firstByteDelayMs: 2 }, async (t) => {
        const created = await t.create({ name: "rpm", requests_per_minute: 50 });
        // Wall-clock minutes: start early in one, so all 200 fall into it.
        const intoMinute = Date.now() % 60_000;
        if (intoMinute > 45_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
        const statuses = await t.burst(200, () => created.key);
        assert.deepEqual([count(statuses, 200), count(statuses, 429)], [50, 150]);
        assert.equal(t.mock.inferenceCount(), 50);
      }),
  );

  Deno.test(
    `[${dialect}] the slots of a gateway killed mid-stream are freed once it falls silent`,
    async () => {
      const db = await createTestDatabase(dialect);
      const mock = await startMockOllama({ hang: true, chunkDelayMs: 50 });
      const env = {
        DATABASE_URL: db.url,
        OLLAMA_URL: mock.url,
        LOG_LEVEL: "warn",
        HEARTBEAT_SECONDS: "1",
      };
      const doomed = await spawnGateway(env);
      const survivor = await spawnGateway(env);
      try {
        const created = await fetch(survivor.adminUrl + "/api/api-keys", {
          method: "POST",
          headers: {
            authorization: `Bearer ${ADMIN_PASSWORD}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ name: "two at a time", max_concurrent: 2 }),
        }).then((r) => r.json());
        const post = (g: GatewayProcess, body = chat({ stream: true })) =>
          fetch(g.proxyUrl + "/api/chat", {
            method: "POST",
            headers: { authorization: `Bearer ${created.key}` },
            body,
          });
        const streams = [await post(doomed), await post(doomed)];
        assert.deepEqual(streams.map((r) => r.status), [200, 200]);
        const third = await post(survivor);
        assert.equal(third.status, 429);
        await third.body?.cancel();
        doomed.kill();
        for (const s of streams) await s.body?.cancel().catch(() => {});
        mock.set({}); // answers come again (the probes below must end)
        // Three heartbeats of silence, then the survivor's reaper frees the two slots.
        let status = 429;
        const deadline = Date.now() + 20_000;
        while (status === 429 && Date.now() < deadline) {
          const res = await post(survivor, chat({ stream: false, options: { num_predict: 1 } }));
          status = res.status;
          await res.body?.cancel();
          if (status === 429) await new Promise((r) => setTimeout(r, 250));
        }
        assert.equal(status, 200, "the dead gateway's slots were freed");
      } finally {
        await doomed.stop();
        assert.equal(await survivor.stop(), 0, survivor.output());
        await mock.close();
        await db.drop();
      }
    },
  );

  Deno.test(
    `[${dialect}] two gateway processes: a group's 50 requests over 4 of its keys, exactly 50`,
    () =>
      withTwoGateways(dialect, { firstByteDelayMs: 2 }, async (t) => {
        const group = await t.create({ name: "team", daily_request_limit: 50 }, "/api/groups");
        const keys: string[] = [];
        for (let i = 0; i < 4; i++) {
          keys.push((await t.create({ name: `k${i}`, group_id: group.id })).key);
        }
        const statuses = await t.burst(200, (i) => keys[i % 4]);
        assert.deepEqual([count(statuses, 200), count(statuses, 429)], [50, 150]);
        assert.equal(t.mock.inferenceCount(), 50);
      }),
  );
}
