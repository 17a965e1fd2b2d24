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
import { until } from "../support/several_boxes.ts";
import { startTcpForwarder } from "../support/tcp_forwarder.ts";

/** `work`, or an error once `ms` passed: a test that fails rather than waits for ever. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

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

  Deno.test("[postgres] a connection lost in its first statement under load: no unhandled rejection, ready again", async () => {
    // postgres.js 3.4.9 drops the promise of the array-type read it starts on each new
    // connection (db/postgres_connect.ts): lost mid-read, it rejected nowhere and ended the
    // process. Every rejection that reaches no handler during the outage is recorded here.
    const unhandled: unknown[] = [];
    const record = (e: PromiseRejectionEvent) => {
      if (e.defaultPrevented) return; // handled by a listener before this one
      e.preventDefault();
      unhandled.push(e.reason);
    };
    const db = await createTestDatabase("postgres");
    const dbUrl = new URL(db.url);
    const forwarder = startTcpForwarder({
      hostname: dbUrl.hostname,
      port: Number(dbUrl.port || 5432),
    });
    const viaForwarder = new URL(db.url);
    viaForwarder.port = String(forwarder.port);
    // Streams in flight when the database goes: their settlements fail and are retried.
    const mock = await startMockOllama({ chunks: 8, chunkDelayMs: 25 });
    const gateway = await startGateway(
      parseConfig({
        ADMIN_PASSWORD,
        PROXY_HOST: "127.0.0.1",
        PROXY_PORT: "0",
        ADMIN_PORT: "0",
        DATABASE_URL: viaForwarder.toString(),
        OLLAMA_URL: mock.url,
        DB_STATEMENT_TIMEOUT_MS: "2000",
        // The reaper (heartbeat, then a transaction) runs during the outage too.
        HEARTBEAT_SECONDS: "1",
      }),
      { log: createLogger("error", () => {}) },
    );
    // Once the gateway is up: db/postgres_connect.ts, imported by then, listens first.
    globalThis.addEventListener("unhandledrejection", record);
    const readyz = async () => {
      const res = await fetch(gateway.proxyUrl + "/readyz");
      await res.body?.cancel();
      return res.status;
    };
    let loading = true;
    // The first failure is the one shown: a later one while stopping may follow from it.
    let failure: unknown = null;
    const statuses = new Set<number>();
    const workers: Promise<void>[] = [];
    try {
      const created = await (await fetch(gateway.adminUrl + "/api/api-keys", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
        body: JSON.stringify({ name: "load", daily_request_limit: 100_000 }),
      })).json();
      assert.equal(await readyz(), 200);
      const chat = async () => {
        const res = await fetch(gateway.proxyUrl + "/api/chat", {
          method: "POST",
          headers: { authorization: `Bearer ${created.key}` },
          body: JSON.stringify({ model: "llama3", messages: [{ role: "user", content: "x" }] }),
        });
        await res.text();
        statuses.add(res.status);
      };
      for (let i = 0; i < 6; i++) {
        workers.push((async () => {
          while (loading) {
            await chat();
            if (!statuses.has(200)) continue;
            // Paced once answered: the load goes on through the outage without a busy loop.
            await new Promise((r) => setTimeout(r, 20));
          }
        })());
      }
      workers.push((async () => {
        while (loading) {
          statuses.add(await readyz());
          await new Promise((r) => setTimeout(r, 100));
        }
      })());
      await until(() => statuses.has(200), "the load is answered");
      // The pool's connections go, and the first one it opens again dies in its first
      // statement, postgres.js's array-type read: then the database stays away.
      await forwarder.cutAtFirstStatement();
      await new Promise((r) => setTimeout(r, 1500)); // refused reconnects, reaper rounds
      assert.equal(await readyz(), 503);
      forwarder.restore();
      await until(async () => await readyz() === 200, "ready again once the database is back");
      loading = false;
      // No request of the outage may wait for ever (an admission on a lost connection did).
      await within(Promise.all(workers), 20_000, "the requests of the outage to end");
      assert.deepEqual([...statuses].filter((s) => s !== 200 && s !== 503), []);
      statuses.clear();
      await chat();
      assert.deepEqual([...statuses], [200], "admitted again");
      assert.deepEqual(unhandled.map(String), []);
    } catch (err) {
      failure = err;
    }
    loading = false;
    try {
      await within(Promise.allSettled(workers), 20_000, "the load to stop");
      await within(gateway.close(), 30_000, "the gateway to close");
    } catch (err) {
      failure ??= err;
    } finally {
      forwarder.close();
      await mock.close();
      await db.drop();
      globalThis.removeEventListener("unhandledrejection", record);
    }
    if (failure) throw failure;
    assert.deepEqual(unhandled.map(String), [], "none while the gateway closed either");
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
