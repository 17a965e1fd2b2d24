/**
 * PostgreSQL group commit: admissions (and settlements) arriving while a batch is in flight
 * share the next transaction, and stay exact: each key admits its limit, no more, the counters
 * match the ledger, and one job's refusal leaves the others of its batch alone.
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { openPostgresStore, type PostgresStore } from "../../db/postgres.ts";
import type { Admission, WindowKeys } from "../../core/store.ts";
import { ASK, JAN_15, newKey, NOW_MS, start, within } from "../support/admissions.ts";

const admitOf = (store: PostgresStore, keyId: number, windows: WindowKeys = JAN_15) =>
  store.admit(start(keyId, windows), ASK, NOW_MS);

/** Runs `fn` with a migrated store, keys of the given daily request limits, an outside pool. */
async function withKeys(
  limits: number[],
  fn: (store: PostgresStore, keyIds: number[], outside: postgres.Sql) => Promise<void>,
): Promise<void> {
  const db = await createTestDatabase("postgres");
  const store = await openPostgresStore(db.url, { connectTimeoutSeconds: 5, poolSize: 10 });
  const outside = postgres(db.url, { max: 2, onnotice: () => {} });
  try {
    await store.migrate();
    const keyIds: number[] = [];
    for (const [i, limit] of limits.entries()) {
      const key = await store.createKey({
        ...newKey({ daily_request_limit: limit }),
        name: `k${i}`,
      });
      keyIds.push(key.id);
    }
    await fn(store, keyIds, outside);
  } finally {
    await outside.end({ timeout: 5 });
    await store.close();
    await db.drop();
  }
}

/** Cutoffs that take every pending request for abandoned. */
const EVERYTHING_STALE = {
  startedBefore: "2030-01-01T00:00:00.000Z",
  silentSince: "1970-01-01T00:00:00.000Z",
  minutesBefore: "1970-01-01T00:00:00.000Z",
};

if (testDialects().includes("postgres")) {
  Deno.test("[postgres] 200 concurrent admissions over 3 keys admit exactly each key's limit", () =>
    withKeys([7, 30, 150], async (store, keyIds) => {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const keyId = keyIds[i % 3];
          return admitOf(store, keyId).then((a) => ({ keyId, a }));
        }),
      );
      const admitted = new Map<number, number>();
      const requestIds = new Set<number>();
      for (const { keyId, a } of results) {
        if (a.kind !== "admitted") {
          assert.equal(a.kind, "refused");
          continue;
        }
        admitted.set(keyId, (admitted.get(keyId) ?? 0) + 1);
        assert.ok(!requestIds.has(a.requestId), "ledger ids are unique");
        requestIds.add(a.requestId);
      }
      // 67, 67 and 66 asked: key 0 and 1 stop at their limits, key 2 admits all it was asked.
      assert.deepEqual([...keyIds].map((id) => admitted.get(id) ?? 0), [7, 30, 66]);
      const usage = await store.usageByOwner("key", JAN_15);
      assert.deepEqual(keyIds.map((id) => usage.get(id)?.today.requests), [7, 30, 66]);
      assert.deepEqual(await store.audit(), []);

      // Settling through the returned ids charges each key's counters: an id handed to the
      // wrong admission would leave counters and ledger apart in the audit below.
      const pairs = results.flatMap((r) =>
        r.a.kind === "admitted" ? [{ keyId: r.keyId, requestId: r.a.requestId }] : []
      );
      const byKey = new Map<number, number[]>();
      for (const r of pairs) byKey.set(r.keyId, [...(byKey.get(r.keyId) ?? []), r.requestId]);

      // Concurrent settlements, some twice, settle in batches and leave the counters exact.
      await Promise.all(
        pairs.flatMap(({ requestId }, i) => {
          const settle = () =>
            store.settle({
              requestId,
              charge: {
                charged: i % 4 !== 0,
                promptTokens: 10,
                completionTokens: 5,
                estimated: false,
                status: 200,
              },
              durationMs: 1,
            });
          return i % 5 === 0 ? [settle(), settle()] : [settle()];
        }),
      );
      assert.deepEqual(await store.audit(), []);
      const after = await store.usageByOwner("key", JAN_15);
      for (const [keyId, ids] of byKey) {
        const charged = pairs.filter((r, i) => r.keyId === keyId && i % 4 !== 0).length;
        assert.equal(after.get(keyId)?.today.requests, charged, `key ${keyId}, ${ids.length}`);
        assert.equal(after.get(keyId)?.today.tokens, charged * 15);
      }
    }));

  Deno.test("[postgres] an unusable key is refused alone within its batch", () =>
    withKeys([100, 100, 100], async (store, [a, b, c]) => {
      await store.updateKey(b, { active: false });
      // The first admission runs alone; the next ones queue behind it and form one batch.
      const first = admitOf(store, a);
      const batch = [
        admitOf(store, a),
        admitOf(store, b),
        admitOf(store, c),
        admitOf(store, 999_999), // a key that does not exist
        admitOf(store, a),
      ];
      const results: Admission[] = await Promise.all([first, ...batch]);
      assert.deepEqual(results.map((r) => r.kind), [
        "admitted",
        "admitted",
        "unusable",
        "admitted",
        "missing",
        "admitted",
      ]);
      // In arrival order, each decision seeing those admitted before it in its batch.
      const left = (r: Admission) =>
        r.kind === "admitted" ? r.decision.quota.requests?.remaining : null;
      assert.deepEqual(results.map(left), [99, 98, null, 99, null, 97]);
      const usage = await store.usageByOwner("key", JAN_15);
      assert.equal(usage.get(a)?.today.requests, 3);
      assert.equal(usage.has(b), false);
      assert.equal(usage.get(c)?.today.requests, 1);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test("[postgres] admissions of other windows queued together still count in their own", () =>
    withKeys([2], async (store, [k]) => {
      const FEB_1: WindowKeys = {
        minute: "2025-02-01T10:00",
        day: "2025-02-01",
        monthStart: "2025-02-01",
        monthEnd: "2025-03-01",
      };
      const results = await Promise.all(
        Array.from(
          { length: 8 },
          (_, i) => admitOf(store, k, i % 2 ? FEB_1 : JAN_15),
        ),
      );
      assert.equal(results.filter((r) => r.kind === "admitted").length, 4);
      const jan = await store.usageByOwner("key", JAN_15);
      const feb = await store.usageByOwner("key", FEB_1);
      assert.equal(jan.get(k)?.today.requests, 2);
      assert.equal(feb.get(k)?.today.requests, 2);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test("[postgres] releaseStale does not wait for a key row an admission holds", () =>
    withKeys([100], async (store, [k], outside) => {
      for (let i = 0; i < 3; i++) await admitOf(store, k);
      // As an admission batch does: the key row locked, then the counter row written. Were the
      // reaper to update the counter row twice, its second update would re-check the foreign
      // key, wait for this key row, and the counter write below would close a deadlock.
      await outside.begin(async (tx) => {
        await tx`SELECT id FROM api_keys WHERE id = ${k} FOR UPDATE`;
        assert.equal(
          await within(3000, store.releaseStale(EVERYTHING_STALE), "releaseStale"),
          3,
        );
        await tx`UPDATE usage_counters SET requests = requests WHERE scope = 'key' AND owner_id = ${k}`;
      });
      const usage = await store.usageByOwner("key", JAN_15);
      assert.equal(usage.get(k)?.today.requests, 3);
      assert.deepEqual(await store.audit(), []);
    }));
}
