/**
 * Where the Ollama boxes come from at start: OLLAMA_URL on a fresh database (one box per URL),
 * the stored Ollama URL setting on a database from before the boxes table, and nothing again
 * once seeded (a box deleted stays deleted across restarts).
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { parseConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { sqliteMigrations } from "../../db/migrations/sqlite.ts";
import { postgresMigrations } from "../../db/migrations/postgres.ts";
import { sqlitePath } from "../../db/sqlite.ts";
import { type Gateway, startGateway } from "../../main.ts";
import { createTestDatabase, type Dialect, testDialects } from "../support/databases.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";

function start(url: string, ollamaUrl: string): Promise<Gateway> {
  return startGateway(
    parseConfig({
      ADMIN_PASSWORD,
      PROXY_HOST: "127.0.0.1",
      PROXY_PORT: "0",
      ADMIN_PORT: "0",
      DATABASE_URL: url,
      OLLAMA_URL: ollamaUrl,
    }),
    { log: createLogger("error", () => {}) },
  );
}

/** Leaves the database as a gateway from before the boxes table did: schema 2, a setting. */
async function schemaTwo(dialect: Dialect, url: string, ollamaUrl: string): Promise<void> {
  const migrations = dialect === "sqlite" ? sqliteMigrations : postgresMigrations;
  const old = migrations.filter((m) => m.version <= 2);
  if (dialect === "sqlite") {
    const db = new DatabaseSync(sqlitePath(url));
    db.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    );
    for (const m of old) {
      db.exec(m.sql);
      db.prepare("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00Z')").run(
        m.version,
        m.name,
      );
    }
    db.prepare("INSERT INTO settings (name, value) VALUES ('ollama_url', ?)").run(ollamaUrl);
    db.close();
    return;
  }
  const pg = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await pg.unsafe(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
    );
    for (const m of old) {
      await pg.unsafe(m.sql);
      await pg`INSERT INTO schema_migrations VALUES (${m.version}, ${m.name}, now())`;
    }
    await pg`INSERT INTO settings (name, value) VALUES ('ollama_url', ${ollamaUrl})`;
  } finally {
    await pg.end();
  }
}

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] a fresh database gets one box per OLLAMA_URL URL, once`, async () => {
    const db = await createTestDatabase(dialect);
    try {
      let gateway = await start(db.url, "http://127.0.0.1:1, http://127.0.0.1:2/");
      let rows = await gateway.deps.store.listUpstreams();
      assert.deepEqual(rows.map((r) => [r.name, r.url, r.max_in_flight, r.enabled]), [
        ["127.0.0.1:1", "http://127.0.0.1:1", 1, true],
        ["127.0.0.1:2", "http://127.0.0.1:2", 1, true],
      ]);
      await gateway.deps.store.deleteUpstream(rows[1].id);
      await gateway.close();
      // A restart (even with another OLLAMA_URL) neither seeds again nor brings back the box.
      gateway = await start(db.url, "http://127.0.0.1:3");
      rows = await gateway.deps.store.listUpstreams();
      assert.deepEqual(rows.map((r) => r.url), ["http://127.0.0.1:1"]);
      await gateway.close();
    } finally {
      await db.drop();
    }
  });

  Deno.test(
    `[${dialect}] a database from before the boxes table makes boxes of its stored Ollama URL`,
    async () => {
      const db = await createTestDatabase(dialect);
      const mocks = [
        await startMockOllama({ models: ["llama3:latest"] }),
        await startMockOllama({ models: ["qwen3:8b"] }),
      ];
      try {
        await schemaTwo(dialect, db.url, mocks.map((m) => m.url).join(","));
        // OLLAMA_URL says otherwise: the stored setting wins, as it always did.
        const gateway = await start(db.url, "http://127.0.0.1:1");
        try {
          assert.deepEqual(await gateway.deps.store.pendingMigrations(), []);
          const rows = await gateway.deps.store.listUpstreams();
          assert.deepEqual(rows.map((r) => [r.url, r.max_in_flight]), [
            [mocks[0].url, 1],
            [mocks[1].url, 1],
          ]);
          const admin = (path: string, init: RequestInit = {}) =>
            fetch(gateway.adminUrl + path, {
              ...init,
              headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
            });
          const { key } = await (await admin("/api/api-keys", {
            method: "POST",
            body: JSON.stringify({ name: "k" }),
          })).json();
          // Both boxes serve: the request for qwen3 reaches the second.
          for (let i = 0; i < 100; i++) {
            const boxes = await (await admin("/api/upstreams")).json();
            if (boxes.every((b: { models: unknown }) => b.models !== null)) break;
            await new Promise((r) => setTimeout(r, 25));
          }
          const res = await fetch(gateway.proxyUrl + "/api/chat", {
            method: "POST",
            headers: { authorization: `Bearer ${key}` },
            body: JSON.stringify({ model: "qwen3:8b", messages: [], stream: false }),
          });
          assert.equal(res.status, 200);
          await res.body?.cancel();
          assert.equal(mocks[1].inferenceCount(), 1);
        } finally {
          await gateway.close();
        }
      } finally {
        for (const m of mocks) await m.close();
        await db.drop();
      }
    },
  );
}
