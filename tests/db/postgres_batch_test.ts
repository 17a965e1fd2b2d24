/**
 * PostgreSQL group commit: admissions (and settlements) arriving while a batch is in flight
 * share the next transaction, and stay exact: each key admits its limit, no more, the counters
 * match the ledger, and one job's failure in `decide` leaves the others of its batch alone.
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { openPostgresStore, type PostgresStore } from "../../db/postgres.ts";
import type { ApiKey, WindowKeys } from "../../db/store.ts";
import type { WindowUsage } from "../../core/quota.ts";
import { decideReal, JAN_15, start, within } from "../support/admissions.ts";

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
        name: `k${i}`,
        prefix: `lq_k${i}`,
        key_hash: `hash-${crypto.randomUUID()}`,
        expires_at: null,
        created_at: "2025-01-01T00:00:00.000Z",
        daily_request_limit: limit,
        monthly_request_limit: null,
        daily_token_limit: null,
        monthly_token_limit: null,
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

if (testDialects().includes("postgres")) {
  Deno.test("[postgres] 200 concurrent admissions over 3 keys admit exactly each key's limit", () =>
    withKeys([7, 30, 150], async (store, keyIds) => {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const keyId = keyIds[i % 3];
          return store.admit(start(keyId), decideReal).then((a) => ({ keyId, a }));
        }),
      );
      const admitted = new Map<number, number>();
      const requestIds = new Set<number>();
      for (const { keyId, a } of results) {
        assert.ok(a);
        if (!a.decision.ok) {
          assert.equal(a.requestId, null);
          continue;
        }
        admitted.set(keyId, (admitted.get(keyId) ?? 0) + 1);
        assert.ok(a.requestId !== null && !requestIds.has(a.requestId), "ledger ids are unique");
        requestIds.add(a.requestId);
      }
      // 67, 67 and 66 asked: key 0 and 1 stop at their limits, key 2 admits all it was asked.
      assert.deepEqual([...keyIds].map((id) => admitted.get(id) ?? 0), [7, 30, 66]);
      const usage = await store.usageByKey(JAN_15);
      assert.deepEqual(keyIds.map((id) => usage.get(id)?.today.requests), [7, 30, 66]);
      assert.deepEqual(await store.audit(), []);

      // Settling through the returned ids charges each key's counters: an id handed to the
      // wrong admission would leave counters and ledger apart in the audit below.
      const pairs = results.filter((r) => r.a?.decision.ok);
      const byKey = new Map<number, number[]>();
      for (const r of pairs) byKey.set(r.keyId, [...(byKey.get(r.keyId) ?? []), r.a!.requestId!]);

      // Concurrent settlements, some twice, settle in batches and leave the counters exact.
      await Promise.all(
        pairs.flatMap(({ keyId, a }, i) => {
          const settle = () =>
            store.settle({
              requestId: a!.requestId!,
              keyId,
              day: JAN_15.day,
              reservation: a!.decision.ok ? a!.decision.reservation : 0,
              charged: i % 4 !== 0,
              promptTokens: 10,
              completionTokens: 5,
              estimated: false,
              status: 200,
              durationMs: 1,
            });
          return i % 5 === 0 ? [settle(), settle()] : [settle()];
        }),
      );
      assert.deepEqual(await store.audit(), []);
      const after = await store.usageByKey(JAN_15);
      for (const [keyId, ids] of byKey) {
        const charged = pairs.filter((r, i) => r.keyId === keyId && i % 4 !== 0).length;
        assert.equal(after.get(keyId)?.today.requests, charged, `key ${keyId}, ${ids.length}`);
        assert.equal(after.get(keyId)?.today.tokens, charged * 15);
      }
    }));

  Deno.test("[postgres] a throwing decide fails only its own job of a batch", () =>
    withKeys([100, 100], async (store, [a, b]) => {
      // Records the day's requests each decide was shown.
      const seen: string[] = [];
      const watch = (name: string) => (key: ApiKey, usage: WindowUsage) => {
        seen.push(`${name}:${usage.day.requests}`);
        return decideReal(key, usage);
      };
      // The first admission runs alone; the next ones queue behind it and form one batch.
      const first = store.admit(start(a), watch("a1"));
      const batch = [
        store.admit(start(a), watch("a2")),
        store.admit(start(b), () => {
          seen.push("b1:throws");
          throw new Error("decide failed");
        }),
        store.admit(start(b), watch("b2")),
        // A key that does not exist: null, alone.
        store.admit(start(999_999), watch("none")),
        store.admit(start(a), watch("a3")),
      ];
      const results = await Promise.allSettled([first, ...batch]);
      const [r0, r1, r2, r3, r4, r5] = results;
      for (const r of [r0, r1, r3, r5]) {
        assert.equal(r.status, "fulfilled");
        assert.equal(r.value?.decision.ok, true);
      }
      assert.equal(r2.status, "rejected");
      assert.match(String(r2.reason), /decide failed/);
      assert.deepEqual(r4, { status: "fulfilled", value: null });
      // In arrival order, each decision seeing those admitted before it in its batch; the
      // throwing one counted nothing.
      assert.deepEqual(seen, ["a1:0", "a2:1", "b1:throws", "b2:0", "a3:2"]);
      const usage = await store.usageByKey(JAN_15);
      assert.equal(usage.get(a)?.today.requests, 3);
      assert.equal(usage.get(b)?.today.requests, 1);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test("[postgres] admissions of other windows queued together still count in their own", () =>
    withKeys([2], async (store, [k]) => {
      const FEB_1: WindowKeys = {
        day: "2025-02-01",
        monthStart: "2025-02-01",
        monthEnd: "2025-03-01",
      };
      const results = await Promise.all(
        Array.from(
          { length: 8 },
          (_, i) => store.admit(start(k, i % 2 ? FEB_1 : JAN_15), decideReal),
        ),
      );
      assert.equal(results.filter((r) => r?.decision.ok).length, 4);
      const jan = await store.usageByKey(JAN_15);
      const feb = await store.usageByKey(FEB_1);
      assert.equal(jan.get(k)?.today.requests, 2);
      assert.equal(feb.get(k)?.today.requests, 2);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test("[postgres] releaseStale does not wait for a key row an admission holds", () =>
    withKeys([100], async (store, [k], outside) => {
      for (let i = 0; i < 3; i++) await store.admit(start(k), decideReal);
      // As an admission batch does: the key row locked, then the counter row written. Were the
      // reaper to update the counter row twice, its second update would re-check the foreign
      // key, wait for this key row, and the counter write below would close a deadlock.
      await outside.begin(async (tx) => {
        await tx`SELECT id FROM api_keys WHERE id = ${k} FOR UPDATE`;
        assert.equal(
          await within(3000, store.releaseStale("2030-01-01T00:00:00.000Z"), "releaseStale"),
          3,
        );
        await tx`UPDATE usage_daily SET requests = requests WHERE key_id = ${k}`;
      });
      const usage = await store.usageByKey(JAN_15);
      assert.equal(usage.get(k)?.today.requests, 3);
      assert.deepEqual(await store.audit(), []);
    }));
}
