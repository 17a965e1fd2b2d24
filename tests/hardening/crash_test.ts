/**
 * kill -9 under load: the database opens cleanly, no admitted-and-completed request is lost, and
 * the counters agree with the ledger (admission is write-ahead, in one transaction).
 * @module
 */
import assert from "node:assert/strict";
import { openStore } from "../../db/mod.ts";
import { requestWindows } from "../../core/windows.ts";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { spawnGateway } from "../support/processes.ts";

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] after kill -9 under load the counters cover every completed request`, async () => {
    const db = await createTestDatabase(dialect);
    const mock = await startMockOllama({ firstByteDelayMs: 5, chunks: 5, chunkDelayMs: 5 });
    const env = { DATABASE_URL: db.url, OLLAMA_URL: mock.url, LOG_LEVEL: "warn" };
    let gateway = await spawnGateway(env);
    try {
      const created = await (await fetch(gateway.adminUrl + "/api/api-keys", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
        body: JSON.stringify({ name: "crash", daily_token_limit: 10_000_000 }),
      })).json();
      const proxyUrl = gateway.proxyUrl;
      let completed = 0;
      const load = Array.from({ length: 200 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i * 10));
        try {
          const res = await fetch(proxyUrl + "/api/chat", {
            method: "POST",
            headers: { authorization: `Bearer ${created.key}` },
            body: JSON.stringify({ model: "llama3", messages: [{ role: "user", content: "x" }] }),
          });
          const text = await res.text();
          if (res.status === 200 && text.includes('"done":true')) completed++;
        } catch { /* cut by the kill */ }
      });
      // Kill in the middle of the load: after some requests completed, with others in flight.
      for (let i = 0; i < 1500 && completed < 30; i++) await new Promise((r) => setTimeout(r, 10));
      gateway.kill();
      await Promise.all(load);
      assert.ok(completed > 0, "some requests completed before the kill");

      // The database opens cleanly and a new gateway starts on it.
      gateway = await spawnGateway(env);
      const store = await openStore(db.url);
      try {
        const usage =
          (await store.usageByOwner("key", requestWindows(Temporal.Now.instant(), "Europe/Berlin")))
            .get(created.id)!;
        assert.ok(
          usage.today.requests >= completed,
          `${usage.today.requests} counted, ${completed} completed`,
        );
        assert.ok(usage.today.completion_tokens >= completed * 5);
        assert.deepEqual(await store.audit(), []);
      } finally {
        await store.close();
      }
    } finally {
      await gateway.stop();
      await mock.close();
      await db.drop();
    }
  });
}
