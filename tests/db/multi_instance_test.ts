/**
 * Several gateway processes on one database keep every quota exact.
 * @module
 */
import assert from "node:assert/strict";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { type GatewayProcess, spawnGateway } from "../support/processes.ts";

const chat = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    model: "llama3",
    stream: false,
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  });

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] two gateway processes on one database admit exactly the limit`, async () => {
    const db = await createTestDatabase(dialect);
    const mock = await startMockOllama({ firstByteDelayMs: 2, promptTokens: 5, chunks: 20 });
    const gateways: GatewayProcess[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        gateways.push(
          await spawnGateway({ DATABASE_URL: db.url, OLLAMA_URL: mock.url, LOG_LEVEL: "warn" }),
        );
      }
      const admin = (g: GatewayProcess, path: string, init: RequestInit = {}) =>
        fetch(g.adminUrl + path, {
          ...init,
          headers: {
            authorization: `Bearer ${ADMIN_PASSWORD}`,
            "content-type": "application/json",
          },
        }).then((r) => r.json());
      const usage = async (id: number) =>
        (await admin(gateways[1], "/api/api-keys")).find((k: { id: number }) => k.id === id).usage
          .today;

      // Requests: 200 in parallel over both gateways on a 50-request key.
      const requestsKey = await admin(gateways[0], "/api/api-keys", {
        method: "POST",
        body: JSON.stringify({ name: "requests", daily_request_limit: 50 }),
      });
      const statuses = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
        const res = await fetch(gateways[i % 2].proxyUrl + "/api/chat", {
          method: "POST",
          headers: { authorization: `Bearer ${requestsKey.key}` },
          body: chat(),
        });
        await res.body?.cancel();
        return res.status;
      }));
      assert.equal(statuses.filter((s) => s === 200).length, 50);
      assert.equal(statuses.filter((s) => s === 429).length, 150);
      assert.equal(mock.inferenceCount(), 50);
      assert.equal((await usage(requestsKey.id)).requests, 50);

      // Tokens: the mock's prompt count equals the gateway's estimate, so the limit holds exactly.
      const tokensKey = await admin(gateways[1], "/api/api-keys", {
        method: "POST",
        body: JSON.stringify({ name: "tokens", daily_token_limit: 1000 }),
      });
      const tokenStatuses = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
        const res = await fetch(gateways[i % 2].proxyUrl + "/api/chat", {
          method: "POST",
          headers: { authorization: `Bearer ${tokensKey.key}` },
          body: chat({ options: { num_predict: 20 } }),
        });
        await res.body?.cancel();
        return res.status;
      }));
      const tokens = await usage(tokensKey.id);
      assert.ok(tokens.tokens <= 1000, `used ${tokens.tokens} of 1000`);
      // Each admitted request used its 5 prompt tokens and at most its 20 output tokens (the
      // last ones are capped to what was left).
      const admitted = tokenStatuses.filter((s) => s === 200).length;
      assert.ok(tokens.tokens <= 25 * admitted, `used ${tokens.tokens} by ${admitted} requests`);
      assert.equal(tokens.requests, admitted);
      assert.ok(tokens.tokens >= 500, `only ${tokens.tokens} of 1000 tokens were usable`);
    } finally {
      for (const g of gateways) assert.equal(await g.stop(), 0, g.output());
      await mock.close();
      await db.drop();
    }
  });
}
