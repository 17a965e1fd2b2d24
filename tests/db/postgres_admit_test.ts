/**
 * PostgreSQL admission failures: the pipelined admission on a reserved connection gives the
 * connection back after a server error or a refusal, and leaves a dead one alone.
 * Settlement and the stale-reservation reaper lock in one order, so they cannot deadlock.
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { openPostgresStore, type PostgresStore } from "../../db/postgres.ts";
import { policyWith } from "../../core/api_keys.ts";
import { ASK, JAN_15, newKey, NOW_MS, start, within } from "../support/admissions.ts";

const admitOf = (store: PostgresStore, keyId: number) => store.admit(start(keyId), ASK, NOW_MS);

/** Runs `fn` with a migrated store, one key and an outside connection on a fresh database. */
async function withKey(
  options: { poolSize: number; statementTimeoutMs?: number },
  fn: (store: PostgresStore, keyId: number, outside: postgres.Sql) => Promise<void>,
): Promise<void> {
  const db = await createTestDatabase("postgres");
  const store = await openPostgresStore(db.url, { connectTimeoutSeconds: 5, ...options });
  const outside = postgres(db.url, { max: 2, onnotice: () => {} });
  try {
    await store.migrate();
    const key = await store.createKey(newKey({ daily_request_limit: 100 }));
    await fn(store, key.id, outside);
  } finally {
    await outside.end({ timeout: 5 });
    await store.close();
    await db.drop();
  }
}

/** Holds the key's row lock from another connection until the returned function is called. */
async function holdKeyLock(outside: postgres.Sql, keyId: number): Promise<() => Promise<void>> {
  const locked = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const done = outside.begin(async (tx) => {
    await tx`SELECT id FROM api_keys WHERE id = ${keyId} FOR UPDATE`;
    locked.resolve();
    await release.promise;
  });
  await locked.promise;
  return async () => {
    release.resolve();
    await done;
  };
}

if (testDialects().includes("postgres")) {
  Deno.test("[postgres] admit gives its connection back after refusals", () =>
    withKey({ poolSize: 1 }, async (store, keyId) => {
      await store.updateKey(keyId, { active: false });
      for (let i = 0; i < 3; i++) {
        assert.equal(
          (await within(5000, admitOf(store, keyId), "refused admission")).kind,
          "unusable",
        );
      }
      await store.updateKey(keyId, { active: true });
      const admitted = await within(5000, admitOf(store, keyId), "admission");
      assert.equal(admitted.kind, "admitted");
      assert.equal((await store.usageByOwner("key", JAN_15)).get(keyId)?.today.requests, 1);
    }));

  Deno.test("[postgres] a lock wait past the statement timeout fails only that admission", () =>
    withKey({ poolSize: 1, statementTimeoutMs: 300 }, async (store, keyId, outside) => {
      const unlock = await holdKeyLock(outside, keyId);
      try {
        await assert.rejects(
          within(5000, admitOf(store, keyId), "blocked admission"),
          (err: Error & { code?: string }) => err.code === "57014",
        );
      } finally {
        await unlock();
      }
      const admitted = await within(5000, admitOf(store, keyId), "admission");
      assert.equal(admitted.kind, "admitted");
      assert.equal((await store.usageByOwner("key", JAN_15)).get(keyId)?.today.requests, 1);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test("[postgres] a backend killed during an admission fails it; the store carries on", () =>
    withKey({ poolSize: 2 }, async (store, keyId, outside) => {
      const unlock = await holdKeyLock(outside, keyId);
      let blocked: Promise<unknown> | undefined;
      try {
        blocked = admitOf(store, keyId);
        blocked.catch(() => {});
        let pid: number | undefined;
        for (let i = 0; i < 100 && pid === undefined; i++) {
          const [row] = await outside`
            SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'llm-quota'
               AND wait_event_type = 'Lock'`;
          pid = row?.pid;
          if (pid === undefined) await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(pid !== undefined, "the admission waits for the row lock");
        await outside`SELECT pg_terminate_backend(${pid})`;
        await assert.rejects(within(5000, blocked, "killed admission"));
      } finally {
        await unlock();
      }
      // postgres.js 3.4.9 keeps the killed backend's FATAL error and fails the first query of
      // the reconnected connection with it; apart from that one, every admission succeeds.
      let admitted = 0;
      for (let round = 0; round < 3; round++) {
        const results = await within(
          10_000,
          Promise.allSettled(
            Array.from({ length: 6 }, () => admitOf(store, keyId)),
          ),
          "admissions after the kill",
        );
        for (const r of results) {
          if (r.status === "fulfilled") {
            assert.equal(r.value.kind, "admitted");
            admitted++;
          } else {
            assert.equal(round, 0, "only the first round meets the stale error");
            assert.equal((r.reason as { code?: string }).code, "57P01");
          }
        }
      }
      assert.ok(admitted >= 17);
      assert.equal((await store.usageByOwner("key", JAN_15)).get(keyId)?.today.requests, admitted);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test("[postgres] settlements racing the stale-reservation reaper never deadlock", () =>
    withKey({ poolSize: 10 }, async (store, keyId) => {
      // Each admission reserves tokens (110) a race could release twice; 120 requests admitted.
      const key = (await store.getKey(keyId))!;
      await store.updateKey(keyId, {
        policy: policyWith(key.policy, { daily_request_limit: null, daily_token_limit: 1_000_000 }),
      });
      const failures: string[] = [];
      for (let round = 0; round < 3; round++) {
        const ids: number[] = [];
        for (let i = 0; i < 40; i++) {
          const admitted = await admitOf(store, keyId);
          assert.equal(admitted.kind === "admitted" && admitted.decision.reservation, 110);
          if (admitted.kind === "admitted") ids.push(admitted.requestId);
        }
        const results = await Promise.allSettled([
          ...ids.map((requestId) =>
            store.settle({
              requestId,
              charge: {
                charged: true,
                promptTokens: 10,
                completionTokens: 5,
                estimated: false,
                status: 200,
              },
              durationMs: 1,
            })
          ),
          // Every pending request counts as stale: the reaper goes for the same rows.
          ...Array.from({ length: 4 }, () =>
            store.releaseStale({
              startedBefore: "2030-01-01T00:00:00.000Z",
              silentSince: "1970-01-01T00:00:00.000Z",
              minutesBefore: "1970-01-01T00:00:00.000Z",
            })),
        ]);
        for (const r of results) {
          if (r.status === "rejected") failures.push(String(r.reason?.code ?? r.reason));
        }
      }
      assert.deepEqual(failures, []);
      // Settlements that lost the race to the reaper release nothing twice.
      assert.deepEqual(await store.audit(), []);
    }));
}
