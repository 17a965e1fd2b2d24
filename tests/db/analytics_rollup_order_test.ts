/**
 * Rollup consistency and lock order in corner cases of the analytics data layer, on every
 * dialect: a late settlement that names a box, settlements landing in an already compacted day,
 * PostgreSQL's lock order (counter rows before rollup rows in every transaction) and analytics
 * maintenance on a pool of one connection.
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { type Dialect, testDialects } from "../support/databases.ts";
import type { Settlement, Store } from "../../core/store.ts";
import { requestWindows } from "../../core/windows.ts";
import { ASK, newKey } from "../support/admissions.ts";
import { eachDialect, withStore } from "../support/store_per_dialect.ts";
import { DatabaseSync } from "node:sqlite";
import { REFUSALS_SPLIT } from "../../db/rollup_audit.ts";

const BERLIN = "Europe/Berlin";

/** Admits a request of `keyId` at `at` (windows in `tz`); returns the admission. */
function admitAt(store: Store, keyId: number, at: string, tz = BERLIN) {
  const instant = Temporal.Instant.from(at);
  return store.admit(
    {
      keyId,
      memberId: null,
      windows: requestWindows(instant, tz),
      route: "/api/chat",
      model: "llama3",
      startedAt: new Date(instant.epochMilliseconds).toISOString(),
      instanceId: "test",
    },
    ASK,
    instant.epochMilliseconds,
  );
}

async function admitted(store: Store, keyId: number, at: string): Promise<number> {
  const a = await admitAt(store, keyId, at);
  assert.equal(a.kind, "admitted");
  return (a as { requestId: number }).requestId;
}

function settlement(requestId: number, upstream?: string): Settlement {
  return {
    requestId,
    charge: { charged: true, promptTokens: 5, completionTokens: 7, estimated: false, status: 200 },
    durationMs: 300,
    ttfbMs: 40,
    timings: null,
    ...(upstream === undefined ? {} : { upstream }),
  };
}

async function clean(store: Store) {
  assert.deepEqual(await store.audit(), []);
  assert.deepEqual(await store.auditRollups(), []);
}

eachDialect(
  "a late settlement naming a box moves the request from abandoned (no box) to the box",
  async (store) => {
    const key = await store.createKey(newKey());
    const id = await admitted(store, key.id, "2026-06-15T10:07:00Z");
    await store.releaseStale({
      startedBefore: "2026-06-15T10:08:00Z",
      silentSince: "2000-01-01T00:00:00Z",
      minutesBefore: "2000-01-01T00:00:00Z",
    });
    await store.settle(settlement(id, "gpu1:11434"));
    await clean(store);
    // The audit compares the rollup rows per box with the ledger's: no "no box" row is left
    // holding the abandonment's negative, no box row its positive.
    const [row] = await store.usage({
      fromMs: Date.parse("2026-06-15T10:00:00Z"),
      toMs: Date.parse("2026-06-15T10:15:00Z"),
      timeZone: BERLIN,
      groupBy: [],
    });
    assert.equal(row.requests, 1);
    assert.equal(row.ok, 1);
    assert.equal(row.abandoned, 0);
  },
);

eachDialect(
  "a request pending across the compaction of its day settles into the day's rollups too",
  async (store) => {
    const key = await store.createKey(newKey());
    // 23:50 in Berlin: the request is still running when its day is compacted.
    const done = await admitted(store, key.id, "2026-06-15T21:40:00Z");
    await store.settle(settlement(done));
    const running = await admitted(store, key.id, "2026-06-15T21:50:00Z");
    const abandonedLater = await admitted(store, key.id, "2026-06-15T21:55:00Z");
    const m = await store.maintainAnalytics({
      nowMs: Date.parse("2026-06-16T01:00:00Z"),
      timeZone: BERLIN,
      requestLogRetentionDays: 90,
      rollup15mRetentionDays: 35,
    });
    assert.ok(m.compactedDays >= 1);
    await store.settle(settlement(running, "gpu1:11434"));
    // Reaped after the compaction, then settled late: both land in the compacted day.
    await store.releaseStale({
      startedBefore: "2026-06-15T21:56:00Z",
      silentSince: "2000-01-01T00:00:00Z",
      minutesBefore: "2000-01-01T00:00:00Z",
    });
    await clean(store);
    await store.settle(settlement(abandonedLater));
    await clean(store);
    const [day] = await store.usage({
      fromMs: Date.parse("2026-06-14T22:00:00Z"),
      toMs: Date.parse("2026-06-15T22:00:00Z"),
      timeZone: BERLIN,
      groupBy: ["day"],
    });
    const quota = (await store.usageByOwner(
      "key",
      requestWindows(
        Temporal.Instant.from("2026-06-15T21:40:00Z"),
        BERLIN,
      ),
    )).get(key.id)!.today;
    assert.equal(day.requests, 3);
    assert.equal(day.requests, quota.requests);
    assert.equal(day.prompt_tokens, quota.prompt_tokens);
    assert.equal(day.completion_tokens, quota.completion_tokens);
  },
);

/** Runs a statement on the store's database behind its back (to break a rollup on purpose). */
async function tamper(dialect: Dialect, url: string, statement: string): Promise<void> {
  if (dialect === "sqlite") {
    const db = new DatabaseSync(url.slice("sqlite://".length));
    try {
      db.exec(statement);
    } finally {
      db.close();
    }
    return;
  }
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(statement);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

eachDialect(
  "the rollup audit sees a logged refusal counted twice, and refusals below those logged",
  async (store, url, dialect) => {
    const key = await store.createKey(newKey({ daily_request_limit: 1 }));
    await store.settle(settlement(await admitted(store, key.id, "2026-06-15T10:00:00Z")));
    const refused = await admitAt(store, key.id, "2026-06-15T10:01:00Z");
    assert.equal(refused.kind, "refused");
    await clean(store);
    // A logged refusal counted twice: beyond the cap a refusal is in the rollup only, so only
    // the logged count can tell.
    await tamper(
      dialect,
      url,
      `UPDATE usage_15m SET refused = refused + 1, refused_requests = refused_requests + 1,
         refused_logged = refused_logged + 1, requests = requests + 1`,
    );
    const twice = await store.auditRollups();
    assert.ok(twice.some((d) => d.table === "usage_15m" && d.field === "refused_logged"));
    await tamper(
      dialect,
      url,
      `UPDATE usage_15m SET refused = 0, refused_requests = 0, refused_logged = 1,
         requests = requests - 2`,
    );
    const below = await store.auditRollups();
    assert.ok(
      below.some((d) => d.field === REFUSALS_SPLIT),
      JSON.stringify(below),
    );
  },
);

eachDialect(
  "migration 5 fills refused_logged from the ledger for rollups written before it",
  async (store, url, dialect) => {
    const key = await store.createKey(newKey({ daily_request_limit: 1 }));
    await store.settle(settlement(await admitted(store, key.id, "2026-06-15T10:00:00Z")));
    for (const at of ["2026-06-15T10:01:00Z", "2026-06-15T10:20:00Z", "2026-06-15T10:21:00Z"]) {
      assert.equal((await admitAt(store, key.id, at)).kind, "refused");
    }
    await store.maintainAnalytics({
      nowMs: Date.parse("2026-06-16T12:00:00Z"),
      timeZone: BERLIN,
      requestLogRetentionDays: 90,
      rollup15mRetentionDays: 35,
    });
    await clean(store);
    // Back to a database migrated up to 4: the column gone, migration 5 not applied.
    await tamper(
      dialect,
      url,
      ["usage_15m", "usage_15m_all", "usage_day", "usage_day_all"]
        .map((t) => `ALTER TABLE ${t} DROP COLUMN refused_logged;`)
        .join("\n") + "\nDELETE FROM schema_migrations WHERE version = 5;",
    );
    await store.migrate();
    await clean(store);
  },
);

const PG = testDialects().includes("postgres");

/**
 * Records, per transaction, the order rows of usage_counters and of the keyed rollup are
 * written in (BEFORE ROW triggers fire as each row is locked for its write).
 */
async function recordWriteOrder(outside: postgres.Sql): Promise<void> {
  await outside.unsafe(`
    CREATE TABLE write_order (seq BIGSERIAL PRIMARY KEY, xid TEXT NOT NULL, tbl TEXT NOT NULL);
    CREATE FUNCTION note_write() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      INSERT INTO write_order (xid, tbl) VALUES (txid_current()::text, TG_TABLE_NAME);
      RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER counters_order BEFORE INSERT OR UPDATE ON usage_counters
      FOR EACH ROW EXECUTE FUNCTION note_write();
    CREATE TRIGGER rollups_order BEFORE INSERT OR UPDATE ON usage_15m
      FOR EACH ROW EXECUTE FUNCTION note_write();
    CREATE TRIGGER rollups_all_order BEFORE INSERT OR UPDATE ON usage_15m_all
      FOR EACH ROW EXECUTE FUNCTION note_write();`);
}

/** Transactions that wrote a rollup row before a counter row (the lock order deadlocks on). */
async function outOfOrder(outside: postgres.Sql): Promise<string[]> {
  const rows = await outside`
    SELECT xid FROM write_order GROUP BY xid
    HAVING MIN(seq) FILTER (WHERE tbl <> 'usage_counters') <
           MAX(seq) FILTER (WHERE tbl = 'usage_counters')
        OR MIN(seq) FILTER (WHERE tbl = 'usage_15m_all') <
           MAX(seq) FILTER (WHERE tbl = 'usage_15m')`;
  return rows.map((r) => String(r.xid));
}

Deno.test({
  name:
    "[postgres] every transaction locks counter rows before rollup rows (mixed admission batches, settlements, reaping)",
  ignore: !PG,
  fn: () =>
    withStore("postgres", async (store, url) => {
      const outside = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await recordWriteOrder(outside);
        const open = await store.createKey(newKey());
        const one = await store.createKey(newKey({ daily_request_limit: 1 }));
        const at = "2026-06-15T10:00:00Z";
        // Arriving together, they share batches that both admit (open) and refuse (one).
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) => admitAt(store, i % 2 ? one.id : open.id, at)),
        );
        assert.ok(results.some((a) => a.kind === "refused"));
        const mixed = await outside`
          SELECT xid FROM write_order GROUP BY xid
          HAVING bool_or(tbl = 'usage_counters') AND bool_or(tbl = 'usage_15m')`;
        assert.ok(mixed.length > 0, "some batch both admitted and refused");
        const ids = results.flatMap((a) => a.kind === "admitted" ? [a.requestId] : []);
        await Promise.all(ids.slice(0, 10).map((id) => store.settle(settlement(id, "gpu1"))));
        await store.releaseStale({
          startedBefore: "2030-01-01T00:00:00Z",
          silentSince: "2000-01-01T00:00:00Z",
          minutesBefore: "2000-01-01T00:00:00Z",
        });
        await Promise.all(ids.slice(10).map((id) => store.settle(settlement(id))));
        assert.deepEqual(await outOfOrder(outside), []);
        await clean(store);
      } finally {
        await outside.end({ timeout: 5 });
      }
    }),
});

Deno.test({
  name: "[postgres] analytics maintenance finishes on a pool of one connection",
  ignore: !PG,
  fn: () =>
    withStore("postgres", async (store) => {
      const key = await store.createKey(newKey());
      await store.settle(settlement(await admitted(store, key.id, "2026-06-15T10:00:00Z")));
      let timer: ReturnType<typeof setTimeout> | undefined;
      // Not a timing threshold: a guard so that the hang this test is about fails it.
      const hung = new Promise<"hung">((resolve) =>
        timer = setTimeout(() => resolve("hung"), 20_000)
      );
      try {
        const m = await Promise.race([
          store.maintainAnalytics({
            nowMs: Date.parse("2026-06-17T12:00:00Z"),
            timeZone: BERLIN,
            requestLogRetentionDays: 90,
            rollup15mRetentionDays: 35,
          }),
          hung,
        ]);
        assert.notEqual(m, "hung");
        assert.equal(m !== "hung" && m.ran, true);
        assert.ok(m !== "hung" && m.compactedDays >= 1);
      } finally {
        clearTimeout(timer);
      }
      await clean(store);
    }, 1),
});
