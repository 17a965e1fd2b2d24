/**
 * Migration 9: in-flight rows of keys without a group or member are not in those owners'
 * partial indexes (fewer pages written per admission and settlement), and the in-flight counts
 * by group and by member still read those indexes (EXPLAIN on both dialects).
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { openStore } from "../../db/mod.ts";
import { sqlitePath } from "../../db/sqlite.ts";
import { policyWith } from "../../core/api_keys.ts";
import { OPEN_POLICY } from "../../core/model.ts";
import type { Admission } from "../../core/store.ts";
import { ASK, newKey, NOW_MS, start } from "../support/admissions.ts";

const COUNTS = {
  group: "SELECT COUNT(*) AS n FROM request_log WHERE group_id = ? AND state = 'pending'",
  member: "SELECT COUNT(*) AS n FROM request_log WHERE member_id = ? AND state = 'pending'",
};

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] the group and member in-flight indexes hold only rows with an owner`, async () => {
    const db = await createTestDatabase(dialect);
    try {
      const store = await openStore(db.url);
      try {
        const key = await store.createKey({
          name: "no group",
          prefix: "lq_ng",
          key_hash: `h-${crypto.randomUUID()}`,
          expires_at: null,
          created_at: "2025-01-01T00:00:00.000Z",
          policy: policyWith(OPEN_POLICY, {}),
        });
        const now = new Date();
        const iso = now.toISOString();
        const admission = await store.admit(
          {
            keyId: key.id,
            memberId: null,
            windows: {
              minute: iso.slice(0, 16),
              day: iso.slice(0, 10),
              monthStart: `${iso.slice(0, 7)}-01`,
              monthEnd: "9999-12-31",
            },
            route: "/api/chat",
            model: "m",
            startedAt: iso,
            instanceId: "test",
          },
          { promptTokens: 1, generates: true, clientMaxTokens: null, maxReservedTokens: 10 },
          now.getTime(),
        );
        assert.equal(admission.kind, "admitted");
      } finally {
        await store.close();
      }
      if (dialect === "sqlite") {
        const conn = new DatabaseSync(sqlitePath(db.url));
        try {
          // One pending row, with neither group nor member: in neither index.
          for (const index of ["request_log_pending_group", "request_log_pending_member"]) {
            const entries = conn.prepare(
              `SELECT COUNT(*) AS n FROM request_log INDEXED BY ${index}
                WHERE state = 'pending' AND ${index.endsWith("group") ? "group_id" : "member_id"}
                  IS NOT NULL`,
            ).get()!.n;
            assert.equal(entries, 0);
            const cells = conn.prepare("SELECT SUM(ncell) AS n FROM dbstat WHERE name = ?")
              .get(index)!.n;
            assert.equal(Number(cells), 0, `${index} has ${cells} entries`);
          }
          for (const [owner, sql] of Object.entries(COUNTS)) {
            const plan = conn.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1)
              .map((r) => String(r.detail)).join(" | ");
            assert.match(plan, new RegExp(`COVERING INDEX request_log_pending_${owner}`), plan);
          }
        } finally {
          conn.close();
        }
      } else {
        const sql = postgres(db.url, { max: 1, onnotice: () => {} });
        try {
          const defs = await sql`
            SELECT indexname, indexdef FROM pg_indexes
             WHERE indexname IN ('request_log_pending_group', 'request_log_pending_member')`;
          assert.equal(defs.length, 2);
          for (const d of defs) assert.match(String(d.indexdef), /IS NOT NULL/, d.indexdef);
          // An empty table is read sequentially whatever its indexes: ask for the index plan.
          await sql`SET enable_seqscan = off`;
          for (const [owner, text] of Object.entries(COUNTS)) {
            const rows = await sql.unsafe(`EXPLAIN ${text.replace("?", "$1")}`, [1]);
            const plan = rows.map((r) => String(r["QUERY PLAN"])).join(" | ");
            assert.match(plan, new RegExp(`request_log_pending_${owner}`), plan);
          }
          // The admission batch's count by group reads the key's group through a subquery.
          const rows = await sql.unsafe(
            `EXPLAIN SELECT group_id, COUNT(*) FROM request_log
              WHERE group_id IN (SELECT group_id FROM api_keys WHERE id = ANY($1::bigint[])
                                   AND group_id IS NOT NULL)
                AND state = 'pending' GROUP BY group_id`,
            [[1]],
          );
          const plan = rows.map((r) => String(r["QUERY PLAN"])).join(" | ");
          assert.match(plan, /request_log_pending_group/, plan);
        } finally {
          await sql.end({ timeout: 5 });
        }
      }
    } finally {
      await db.drop();
    }
  });
}

/** Whether an admission was refused by a concurrency limit. */
const refusedConcurrent = (a: Admission) =>
  a.kind === "refused" && "limit" in a.decision && a.decision.limit.metric === "concurrent";

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] a group's and a member's requests in flight are counted through the indexes`, async () => {
    const db = await createTestDatabase(dialect);
    const store = await openStore(db.url);
    try {
      const group = await store.createGroup(
        "two at a time",
        policyWith(OPEN_POLICY, { max_concurrent: 2 }),
        "2025-01-01T00:00:00.000Z",
      );
      const a = await store.createKey({ ...newKey(), group_id: group.id });
      const b = await store.createKey({ ...newKey(), group_id: group.id });
      const first = await store.admit(start(a.id), ASK, NOW_MS);
      assert.equal(first.kind, "admitted");
      assert.equal((await store.admit(start(b.id), ASK, NOW_MS)).kind, "admitted");
      // The group's third request in flight, through either key, is over its limit.
      assert.ok(refusedConcurrent(await store.admit(start(a.id), ASK, NOW_MS)));
      await store.settle({
        requestId: (first as Admission & { kind: "admitted" }).requestId,
        charge: {
          charged: true,
          promptTokens: 1,
          completionTokens: 1,
          estimated: false,
          status: 200,
        },
        durationMs: 1,
      });
      assert.equal((await store.admit(start(a.id), ASK, NOW_MS)).kind, "admitted");

      const solo = await store.createKey(newKey());
      const member = await store.memberFor(
        solo.id,
        { external_id: "ada", email: null, name: null, role: null },
        "2025-01-01T00:00:00.000Z",
      );
      await store.updateMember(solo.id, member.id, {
        limits: [{ metric: "concurrent", window: "none", max: 1 }],
      });
      const asMember = { ...start(solo.id), memberId: member.id };
      assert.equal((await store.admit(asMember, ASK, NOW_MS)).kind, "admitted");
      assert.ok(refusedConcurrent(await store.admit(asMember, ASK, NOW_MS)));
      // The key itself (no member) is not limited by the member's request.
      assert.equal((await store.admit(start(solo.id), ASK, NOW_MS)).kind, "admitted");
    } finally {
      await store.close();
      await db.drop();
    }
  });
}
