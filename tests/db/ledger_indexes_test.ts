/**
 * Migrations 10 and 11: the ledger's (key_id, day) index and its in-flight index by state are
 * gone on both dialects, and every read they could have served still finds an index (EXPLAIN):
 * the request list of one key, the lookup a key's cascade delete makes, the in-flight usage and
 * counts of one key, group or member, PostgreSQL's snapshot join, and the in-flight reads that
 * name no key (the reaper, live usage per key, the instances still holding rows).
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { openStore } from "../../db/mod.ts";
import { sqlitePath } from "../../db/sqlite.ts";
import { PENDING_USAGE_SQL } from "../../db/rows.ts";

const GONE = ["request_log_key_day", "request_log_pending"];

/** Each read and the index its plan must name. */
const READS: Array<[sql: string, index: RegExp]> = [
  [
    "SELECT id FROM request_log WHERE key_id = $1 ORDER BY started_at DESC, id DESC LIMIT 50",
    /request_log_key_started\b/,
  ],
  ["SELECT id FROM request_log WHERE key_id = $1", /request_log_key_started\b/],
  [PENDING_USAGE_SQL, /request_log_pending_key_day\b/],
  // The in-flight counts of one group and one member (admission), each through its own index.
  [
    "SELECT COUNT(*) FROM request_log WHERE group_id = $1 AND state = 'pending'",
    /request_log_pending_group\b/,
  ],
  [
    "SELECT COUNT(*) FROM request_log WHERE member_id = $1 AND state = 'pending'",
    /request_log_pending_member\b/,
  ],
  // The in-flight reads without a key: any in-flight (partial) index serves them.
  [
    "SELECT key_id, COUNT(*) FROM request_log WHERE state = 'pending' GROUP BY key_id",
    /request_log_pending_\w+/,
  ],
  [
    `SELECT id, reserved_tokens FROM request_log
      WHERE state = 'pending' AND (started_at < $1 OR instance_id IN
        (SELECT id FROM gateway_instances WHERE seen_at < $2))`,
    /request_log_pending_\w+/,
  ],
  [
    "SELECT instance_id FROM request_log WHERE state = 'pending' AND instance_id IS NOT NULL",
    /request_log_pending_\w+/,
  ],
];

/** Parameters of a read: none, a key id, or two instants (the reaper's cutoffs). */
const argsOf = (sql: string) =>
  sql.includes("$2")
    ? ["2025-01-15T10:00:00.000Z", "2025-01-15T10:00:00.000Z"]
    : sql.includes("$1")
    ? [1]
    : [];

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] the ledger keeps no unread index and every read by key or in flight uses one`, async () => {
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
          for (const gone of GONE) assert.ok(!names.includes(gone), names.join(", "));
          for (const [sql, index] of READS) {
            const plan = conn.prepare(`EXPLAIN QUERY PLAN ${sql.replace(/\$\d/g, "?")}`)
              .all(...argsOf(sql)).map((r) => String(r.detail)).join(" | ");
            assert.match(plan, index, `${sql}: ${plan}`);
            // A scan of the table itself (no index named) reads every ledger row ever kept.
            assert.doesNotMatch(plan, /SCAN request_log(?! USING)/, `${sql}: ${plan}`);
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
          for (const gone of GONE) assert.ok(!names.includes(gone), names.join(", "));
          // An empty table is read sequentially whatever its indexes: ask for the index plan.
          await sql`SET enable_seqscan = off`;
          for (const [text, index] of READS) {
            const rows = await sql.unsafe(`EXPLAIN ${text}`, argsOf(text));
            const plan = rows.map((r) => String(r["QUERY PLAN"])).join(" | ");
            assert.match(plan, index, `${text}: ${plan}`);
            assert.doesNotMatch(plan, /Seq Scan on request_log/, `${text}: ${plan}`);
          }
          // PostgreSQL's snapshots count every owner's requests in flight in one join.
          const rows = await sql.unsafe(
            `EXPLAIN SELECT o.scope, o.owner_id, COUNT(r.id)
               FROM unnest($1::text[], $2::bigint[]) AS o(scope, owner_id)
               LEFT JOIN request_log r ON r.state = 'pending' AND (
                 (o.scope = 'key' AND r.key_id = o.owner_id) OR
                 (o.scope = 'group' AND r.group_id = o.owner_id) OR
                 (o.scope = 'member' AND r.member_id = o.owner_id))
              GROUP BY o.scope, o.owner_id`,
            [["key"], [1]],
          );
          const plan = rows.map((r) => String(r["QUERY PLAN"])).join(" | ");
          assert.match(plan, /request_log_pending_\w+/, plan);
          assert.doesNotMatch(plan, /Seq Scan on request_log/, plan);
        } finally {
          await sql.end({ timeout: 5 });
        }
      }
    } finally {
      await db.drop();
    }
  });
}
