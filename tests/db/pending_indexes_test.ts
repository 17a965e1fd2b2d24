/**
 * Migration 6: the reads of in-flight rows by key go through the partial index of in-flight
 * rows, not through a key's whole ledger history (EXPLAIN on both dialects).
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { openStore } from "../../db/mod.ts";
import { sqlitePath } from "../../db/sqlite.ts";
import { PENDING_USAGE_SQL } from "../../db/rows.ts";

/** The in-flight count per key, as admissions read it (SQLite's form). */
const IN_FLIGHT_BY_KEY =
  "SELECT COUNT(*) AS n FROM request_log WHERE key_id = ? AND state = 'pending'";

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] in-flight reads by key use the partial index of in-flight rows`, async () => {
    const db = await createTestDatabase(dialect);
    try {
      const store = await openStore(db.url);
      await store.close();
      if (dialect === "sqlite") {
        const conn = new DatabaseSync(sqlitePath(db.url));
        try {
          const plan = (sql: string) =>
            conn.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1).map((r) => String(r.detail))
              .join(" | ");
          const usage = plan(PENDING_USAGE_SQL.replace(/\$\d/g, "?"));
          assert.match(usage, /request_log_pending_key_day/, usage);
          assert.doesNotMatch(usage, /TEMP B-TREE/, usage);
          const count = plan(IN_FLIGHT_BY_KEY);
          assert.match(count, /COVERING INDEX request_log_pending_key_day/, count);
        } finally {
          conn.close();
        }
      } else {
        const sql = postgres(db.url, { max: 1, onnotice: () => {} });
        try {
          // An empty table is read sequentially whatever its indexes: ask for the index plan.
          await sql`SET enable_seqscan = off`;
          const rows = await sql.unsafe(`EXPLAIN ${PENDING_USAGE_SQL}`, [1]);
          const plan = rows.map((r) => String(r["QUERY PLAN"])).join(" | ");
          assert.match(plan, /request_log_pending_key_day/, plan);
        } finally {
          await sql.end({ timeout: 5 });
        }
      }
    } finally {
      await db.drop();
    }
  });
}
