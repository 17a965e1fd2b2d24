/**
 * PostgreSQL going away: requests fail closed with 503 and the gateway recovers by itself.
 * @module
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../core/clock.ts";
import { parseConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { startGateway } from "../../main.ts";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { startTcpForwarder } from "../support/tcp_forwarder.ts";

if (testDialects().includes("postgres")) {
  Deno.test("[postgres] with the database gone requests get 503, never admitted; then it recovers", async () => {
    const db = await createTestDatabase("postgres");
    const dbUrl = new URL(db.url);
    const forwarder = startTcpForwarder({
      hostname: dbUrl.hostname,
      port: Number(dbUrl.port || 5432),
    });
    const viaForwarder = new URL(db.url);
    viaForwarder.port = String(forwarder.port);
    const mock = await startMockOllama();
    const logs: string[] = [];
    const gateway = await startGateway(
      parseConfig({
        ADMIN_PASSWORD,
        PROXY_HOST: "127.0.0.1",
        PROXY_PORT: "0",
        ADMIN_PORT: "0",
        DATABASE_URL: viaForwarder.toString(),
        OLLAMA_URL: mock.url,
        DB_STATEMENT_TIMEOUT_MS: "2000",
      }),
      {
        clock: new ManualClock("2026-06-15T10:00:00Z"),
        log: createLogger("debug", (l) => logs.push(l)),
      },
    );
    try {
      const created = await (await fetch(gateway.adminUrl + "/api/api-keys", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
        body: JSON.stringify({ name: "outage", daily_request_limit: 100 }),
      })).json();
      const call = async (path: string) => {
        const res = await fetch(gateway.proxyUrl + path, {
          method: "POST",
          headers: { authorization: `Bearer ${created.key}` },
          body: JSON.stringify({
            model: "llama3",
            stream: false,
            messages: [{ role: "user", content: "x" }],
          }),
        });
        return {
          status: res.status,
          body: await res.json().catch(() => null),
          headers: res.headers,
        };
      };
      assert.equal((await call("/api/chat")).status, 200);

      forwarder.cut();
      const native = await call("/api/chat");
      assert.equal(native.status, 503);
      assert.match(native.body.error, /database unavailable/i);
      const openai = await call("/v1/chat/completions");
      assert.equal(openai.status, 503);
      assert.match(openai.body.error.message, /database unavailable/i);
      assert.equal(openai.body.error.type, "api_error");
      assert.equal(mock.inferenceCount(), 1, "nothing is admitted unchecked");

      forwarder.restore();
      let recovered = 0;
      for (let i = 0; i < 40 && recovered !== 200; i++) {
        recovered = (await call("/api/chat")).status;
        if (recovered !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(recovered, 200, "the gateway reconnects by itself");
      assert.ok(logs.some((l) => l.includes("database unavailable")));
    } finally {
      await gateway.close();
      forwarder.close();
      await mock.close();
      await db.drop();
    }
  });

  Deno.test("[postgres] a settlement the database refuses is retried until it is recorded", async () => {
    const db = await createTestDatabase("postgres");
    const dbUrl = new URL(db.url);
    const forwarder = startTcpForwarder({
      hostname: dbUrl.hostname,
      port: Number(dbUrl.port || 5432),
    });
    const viaForwarder = new URL(db.url);
    viaForwarder.port = String(forwarder.port);
    const mock = await startMockOllama({ chunks: 20, chunkDelayMs: 25 });
    const logs: string[] = [];
    const gateway = await startGateway(
      parseConfig({
        ADMIN_PASSWORD,
        PROXY_HOST: "127.0.0.1",
        PROXY_PORT: "0",
        ADMIN_PORT: "0",
        DATABASE_URL: viaForwarder.toString(),
        OLLAMA_URL: mock.url,
        DB_STATEMENT_TIMEOUT_MS: "2000",
      }),
      {
        clock: new ManualClock("2026-06-15T10:00:00Z"),
        log: createLogger("debug", (l) => logs.push(l)),
      },
    );
    const until = async (what: string, check: () => boolean) => {
      for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(check(), what);
    };
    try {
      const created = await (await fetch(gateway.adminUrl + "/api/api-keys", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
        body: JSON.stringify({ name: "retry", daily_token_limit: 100_000 }),
      })).json();
      const res = await fetch(gateway.proxyUrl + "/api/chat", {
        method: "POST",
        headers: { authorization: `Bearer ${created.key}` },
        body: JSON.stringify({ model: "llama3", messages: [{ role: "user", content: "x" }] }),
      });
      assert.equal(res.status, 200);
      // The stream runs while the database is cut off: its settlement fails at first.
      forwarder.cut();
      await res.text();
      await until("the first settlement failed", () => logs.some((l) => l.includes("retrying")));
      forwarder.restore();
      await until(
        "a retry recorded the usage",
        () => logs.some((l) => l.includes("usage recorded after a retry")),
      );
      const keys = await (await fetch(gateway.adminUrl + "/api/api-keys", {
        headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
      })).json();
      assert.deepEqual(
        [keys[0].usage.today.prompt_tokens, keys[0].usage.today.completion_tokens],
        [7, 20],
      );
      assert.deepEqual(await gateway.deps.store.audit(), []);
    } finally {
      await gateway.close();
      forwarder.close();
      await mock.close();
      await db.drop();
    }
  });
}
