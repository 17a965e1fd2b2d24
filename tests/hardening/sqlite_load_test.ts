/**
 * SQLite under load from two processes sharing one file: writers wait for each other (busy
 * timeout) instead of failing, and every counter is exact.
 * @module
 */
import assert from "node:assert/strict";
import { createTestDatabase } from "../support/databases.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { type GatewayProcess, spawnGateway } from "../support/processes.ts";

Deno.test("[sqlite] 500 concurrent requests over 50 keys on two processes: no SQLITE_BUSY, exact counters", async () => {
  const db = await createTestDatabase("sqlite");
  const mock = await startMockOllama({ firstByteDelayMs: 1 });
  const gateways: GatewayProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      gateways.push(
        await spawnGateway({ DATABASE_URL: db.url, OLLAMA_URL: mock.url, LOG_LEVEL: "warn" }),
      );
    }
    const keys: Array<{ key: string }> = [];
    for (let i = 0; i < 50; i++) {
      const res = await fetch(gateways[0].adminUrl + "/api/api-keys", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
        body: JSON.stringify({
          name: `key ${i}`,
          daily_request_limit: 5,
          daily_token_limit: 100_000,
        }),
      });
      keys.push(await res.json());
    }
    const statuses = await Promise.all(Array.from({ length: 500 }, async (_, i) => {
      const res = await fetch(gateways[i % 2].proxyUrl + "/api/chat", {
        method: "POST",
        headers: { authorization: `Bearer ${keys[i % 50].key}` },
        body: JSON.stringify({
          model: "llama3",
          stream: false,
          messages: [{ role: "user", content: "x" }],
        }),
      });
      const text = await res.text();
      assert.ok(!/SQLITE_BUSY|database is locked/i.test(text), text);
      return res.status;
    }));
    const count = (s: number) => statuses.filter((x) => x === s).length;
    assert.equal(count(200), 250, JSON.stringify(statuses));
    assert.equal(count(429), 250);
    assert.equal(mock.inferenceCount(), 250);
    const listed = await (await fetch(gateways[1].adminUrl + "/api/api-keys", {
      headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
    })).json();
    for (const k of listed) assert.equal(k.usage.today.requests, 5, k.name);
  } finally {
    for (const g of gateways) await g.stop();
    await mock.close();
    await db.drop();
  }
});
