/**
 * PostgreSQL admission failures: the pipelined admission on a reserved connection gives the
 * connection back after a server error or a throwing `decide`, and leaves a dead one alone.
 * Settlement and the stale-reservation reaper lock in one order, so they cannot deadlock.
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { openPostgresStore, type PostgresStore } from "../../db/postgres.ts";
import { decideReal, JAN_15, start, within } from "../support/admissions.ts";

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
    const key = await store.createKey({
      name: "k",
      prefix: "lq_k",
      key_hash: `hash-${crypto.randomUUID()}`,
      expires_at: null,
      created_at: "2025-01-01T00:00:00.000Z",
      daily_request_limit: 100,
      monthly_request_limit: null,
      daily_token_limit: null,
      monthly_token_limit: null,
    });
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
  Deno.test("[postgres] admit gives its connection back when decide throws", () =>
    withKey({ poolSize: 1 }, async (store, keyId) => {
      for (let i = 0; i < 3; i++) {
        await assert.rejects(
          within(
            5000,
            store.admit(start(keyId), () => {
              throw new Error("decide failed");
            }),
            "throwing admission",
          ),
          /decide failed/,
        );
      }
      const admitted = await within(5000, store.admit(start(keyId), decideReal), "admission");
      assert.equal(admitted?.decision.ok, true);
      assert.equal((await store.usageByKey(JAN_15)).get(keyId)?.today.requests, 1);
    }));

  Deno.test("[postgres] a lock wait past the statement timeout fails only that admission", () =>
    withKey({ poolSize: 1, statementTimeoutMs: 300 }, async (store, keyId, outside) => {
      const unlock = await holdKeyLock(outside, keyId);
      try {
        await assert.rejects(
          within(5000, store.admit(start(keyId), decideReal), "blocked admission"),
          (err: Error & { code?: string }) => err.code === "57014",
        );
      } finally {
        await unlock();
      }
      const admitted = await within(5000, store.admit(start(keyId), decideReal), "admission");
      assert.equal(admitted?.decision.ok, true);
      assert.equal((await store.usageByKey(JAN_15)).get(keyId)?.today.requests, 1);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test("[postgres] a backend killed during an admission fails it; the store carries on", () =>
    withKey({ poolSize: 2 }, async (store, keyId, outside) => {
      const unlock = await holdKeyLock(outside, keyId);
      let blocked: Promise<unknown> | undefined;
      try {
        blocked = store.admit(start(keyId), decideReal);
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
            Array.from({ length: 6 }, () => store.admit(start(keyId), decideReal)),
          ),
          "admissions after the kill",
        );
        for (const r of results) {
          if (r.status === "fulfilled") {
            assert.equal(r.value?.decision.ok, true);
            admitted++;
          } else {
            assert.equal(round, 0, "only the first round meets the stale error");
            assert.equal((r.reason as { code?: string }).code, "57P01");
          }
        }
      }
      assert.ok(admitted >= 17);
      assert.equal((await store.usageByKey(JAN_15)).get(keyId)?.today.requests, admitted);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test("[postgres] settlements racing the stale-reservation reaper never deadlock", () =>
    withKey({ poolSize: 10 }, async (store, keyId) => {
      // Each admission reserves tokens (110) a race could release twice; 120 requests admitted.
      await store.updateKey(keyId, { daily_request_limit: null, daily_token_limit: 1_000_000 });
      const failures: string[] = [];
      for (let round = 0; round < 3; round++) {
        const ids: number[] = [];
        for (let i = 0; i < 40; i++) {
          const admitted = await store.admit(start(keyId), decideReal);
          assert.equal(admitted?.decision.ok && admitted.decision.reservation, 110);
          ids.push(admitted!.requestId!);
        }
        const results = await Promise.allSettled([
          ...ids.map((requestId) =>
            store.settle({
              requestId,
              keyId,
              day: JAN_15.day,
              reservation: 110,
              charged: true,
              promptTokens: 10,
              completionTokens: 5,
              estimated: false,
              status: 200,
              durationMs: 1,
            })
          ),
          // Every pending request counts as stale: the reaper goes for the same rows.
          ...Array.from({ length: 4 }, () => store.releaseStale("2030-01-01T00:00:00.000Z")),
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
