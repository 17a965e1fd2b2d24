/**
 * SQLite migration 12: the usage counters move into a WITHOUT ROWID table, every row and number
 * kept, and admissions count on in it.
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { sqliteMigrations } from "../../db/migrations/sqlite.ts";
import { openSqliteStore } from "../../db/sqlite.ts";
import { ASK, newKey, NOW_MS, start } from "../support/admissions.ts";

const COUNTERS = `SELECT scope, owner_id, period, bucket, requests, prompt_tokens,
  completion_tokens, reserved_tokens FROM usage_counters ORDER BY 1, 2, 3, 4`;

Deno.test("[sqlite] migration 12 keeps every counter and clusters the table by its key", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/v11.db`;
  try {
    // A database as a gateway at migration 11 left it, with counters of two owners.
    const old = new DatabaseSync(path);
    old.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    );
    for (const m of sqliteMigrations.filter((m) => m.version <= 11)) {
      old.exec(m.sql);
      old.prepare("INSERT INTO schema_migrations VALUES (?, ?, '2025-01-01T00:00:00Z')")
        .run(m.version, m.name);
    }
    const insert = old.prepare(
      `INSERT INTO usage_counters (scope, owner_id, period, bucket, requests, prompt_tokens,
         completion_tokens, reserved_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    insert.run("key", 7, "day", "2025-01-14", 3, 30, 120, 0);
    insert.run("key", 7, "day", "2025-01-15", 2, 20, 80, 100);
    insert.run("key", 7, "minute", "2025-01-15T10:00", 2, 20, 80, 100);
    insert.run("group", 2, "day", "2025-01-15", 5, 50, 200, 100);
    const before = old.prepare(COUNTERS).all();
    old.close();

    const store = openSqliteStore(`sqlite:///${path}`, { checkpointWorker: false });
    try {
      await store.migrate();
      assert.deepEqual(await store.pendingMigrations(), []);
      const db = new DatabaseSync(path);
      try {
        assert.deepEqual(db.prepare(COUNTERS).all(), before);
        const { sql } = db.prepare(
          "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'usage_counters'",
        ).get() as { sql: string };
        assert.match(sql, /WITHOUT ROWID/);
        assert.throws(() => db.prepare("SELECT rowid FROM usage_counters").all(), /rowid/);
      } finally {
        db.close();
      }
      // Admissions still add to the (migrated) table: its conflict target is the primary key.
      const key = await store.createKey(newKey({ daily_request_limit: 2 }));
      assert.equal((await store.admit(start(key.id), ASK, NOW_MS)).kind, "admitted");
      assert.equal((await store.admit(start(key.id), ASK, NOW_MS)).kind, "admitted");
      assert.equal((await store.admit(start(key.id), ASK, NOW_MS)).kind, "refused");
    } finally {
      await store.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
