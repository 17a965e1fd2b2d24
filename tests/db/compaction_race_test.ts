/**
 * PostgreSQL: a settlement still in flight when a day's first compaction starts must end up in
 * that day's rollups exactly once. The "settlement" is a raw transaction writing usage_15m, held
 * open across the compaction so the interleaving is certain rather than left to timing.
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { openPostgresStore } from "../../db/postgres.ts";

const BERLIN = "Europe/Berlin";
const BUCKET = Date.parse("2026-06-15T10:00:00Z");

Deno.test({
  name: "[postgres] a settlement committing during a day's first compaction is counted once",
  ignore: !testDialects().includes("postgres"),
  fn: async () => {
    const db = await createTestDatabase("postgres");
    const store = await openPostgresStore(db.url, { poolSize: 5, connectTimeoutSeconds: 5 });
    const other = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await store.migrate();
      const row = (keyId: number) =>
        other`INSERT INTO usage_15m (bucket, key_id, model, route, group_id, member_id, upstream,
          requests) VALUES (${BUCKET}, ${keyId}, 'llama3', '/api/chat', 0, 0, '', 1)`;
      await other`INSERT INTO usage_15m_all (bucket, model, route, upstream, requests)
        VALUES (${BUCKET}, 'llama3', '/api/chat', '', 2)`;
      await row(1);
      const late = other.begin(async (tx) => {
        await tx`INSERT INTO usage_15m (bucket, key_id, model, route, group_id, member_id,
          upstream, requests) VALUES (${BUCKET}, 2, 'llama3', '/api/chat', 0, 0, '', 1)`;
        await new Promise((r) => setTimeout(r, 500));
      });
      await new Promise((r) => setTimeout(r, 100));
      await store.maintainAnalytics({
        nowMs: Date.parse("2026-06-20T00:00:00Z"),
        timeZone: BERLIN,
        requestLogRetentionDays: 90,
        rollup15mRetentionDays: 35,
      });
      await late;
      const [{ n }] = await other`SELECT COALESCE(SUM(requests), 0)::int AS n FROM usage_day
        WHERE tz = ${BERLIN} AND day = '2026-06-15'`;
      assert.equal(n, 2, "both keys' requests are in the compacted day");
    } finally {
      await other.end({ timeout: 5 });
      await store.close();
      await db.drop();
    }
  },
});
