/**
 * Migration 10: the ledger's (key_id, day) index is gone on both dialects, and the reads that
 * start from a key still find an index (EXPLAIN): the request list of one key, the lookup a
 * key's cascade delete makes, and the in-flight usage of one key.
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { openStore } from "../../db/mod.ts";
import { sqlitePath } from "../../db/sqlite.ts";
import { PENDING_USAGE_SQL } from "../../db/rows.ts";

/** Each read from one key ($1) and the index its plan must name. */
const READS: Array<[sql: string, index: string]> = [
  [
    "SELECT id FROM request_log WHERE key_id = $1 ORDER BY started_at DESC, id DESC LIMIT 50",
    "request_log_key_started",
  ],
  ["SELECT id FROM request_log WHERE key_id = $1", "request_log_key_started"],
  [PENDING_USAGE_SQL, "request_log_pending_key_day"],
];

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] the ledger has no (key_id, day) index and reads by key still use one`, async () => {
    const db = await createTestDatabase(dialect);
    try {
      await (await openStore(db.url)).close();
      if (dialect === "sqlite") {
        const conn = new DatabaseSync(sqlitePath(db.url));
        try {
          const names = conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'request_log'",
          ).all().map((r) => String(r.name));
          assert.ok(names.includes("request_log_key_started"), names.join(", "));
          assert.ok(!names.includes("request_log_key_day"), names.join(", "));
          for (const [sql, index] of READS) {
            const plan = conn.prepare(`EXPLAIN QUERY PLAN ${sql.replaceAll("$1", "?")}`).all(1)
              .map((r) => String(r.detail)).join(" | ");
            assert.match(plan, new RegExp(`INDEX ${index}\\b`), `${sql}: ${plan}`);
          }
        } finally {
          conn.close();
        }
      } else {
        const sql = postgres(db.url, { max: 1, onnotice: () => {} });
        try {
          const names = (await sql`
            SELECT indexname FROM pg_indexes WHERE tablename = 'request_log'
               AND schemaname = current_schema()`).map((r) => String(r.indexname));
          assert.ok(names.includes("request_log_key_started"), names.join(", "));
          assert.ok(!names.includes("request_log_key_day"), names.join(", "));
          // An empty table is read sequentially whatever its indexes: ask for the index plan.
          await sql`SET enable_seqscan = off`;
          for (const [text, index] of READS) {
            const rows = await sql.unsafe(`EXPLAIN ${text}`, [1]);
            const plan = rows.map((r) => String(r["QUERY PLAN"])).join(" | ");
            assert.match(plan, new RegExp(`${index}\\b`), `${text}: ${plan}`);
          }
        } finally {
          await sql.end({ timeout: 5 });
        }
      }
    } finally {
      await db.drop();
    }
  });
}
