/**
 * SIGTERM with streams in flight: they get the grace period, the rest is aborted, and the
 * database's counters equal what the clients received.
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
  Deno.test(`[${dialect}] SIGTERM with 20 streams in flight: counters equal what clients received`, async () => {
    const db = await createTestDatabase(dialect);
    // Endless streams: only the shutdown's abort after the grace period can end them.
    const mock = await startMockOllama({ hang: true, chunkDelayMs: 20 });
    const gateway = await spawnGateway({
      DATABASE_URL: db.url,
      OLLAMA_URL: mock.url,
      SHUTDOWN_GRACE_SECONDS: "1",
      LOG_LEVEL: "warn",
    });
    try {
      const created = await (await fetch(gateway.adminUrl + "/api/api-keys", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
        body: JSON.stringify({ name: "streams", daily_token_limit: 1_000_000 }),
      })).json();
      const received = Array.from({ length: 20 }, async () => {
        const res = await fetch(gateway.proxyUrl + "/api/generate", {
          method: "POST",
          headers: { authorization: `Bearer ${created.key}` },
          body: JSON.stringify({ model: "llama3", prompt: "count to infinity" }),
        });
        const lines = (await res.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l));
        return {
          content: lines.filter((l) => typeof l.response === "string").length,
          last: lines.at(-1),
        };
      });
      // SIGTERM only once every stream is running upstream.
      for (let i = 0; i < 200 && mock.inferenceCount() < 20; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(mock.inferenceCount(), 20);
      await new Promise((r) => setTimeout(r, 100));
      const stopped = gateway.stop();
      const results = await Promise.all(received);
      assert.equal(await stopped, 0, gateway.output());
      for (const r of results) assert.equal(r.last.error, "gateway shutting down");
      const delivered = results.reduce((sum, r) => sum + r.content, 0);
      assert.ok(delivered >= 20, `delivered ${delivered}`);

      const store = await openStore(db.url);
      try {
        const usage =
          (await store.usageByOwner("key", requestWindows(Temporal.Now.instant(), "Europe/Berlin")))
            .get(created.id)!;
        assert.equal(usage.today.requests, 20);
        assert.equal(usage.today.completion_tokens, delivered);
        assert.deepEqual(await store.audit(), []);
      } finally {
        await store.close();
      }
      // New connections are refused once the gateway has stopped.
      await assert.rejects(fetch(gateway.proxyUrl + "/"));
    } finally {
      await gateway.stop();
      await mock.close();
      await db.drop();
    }
  });
}
