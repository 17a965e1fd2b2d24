/**
 * The rollups' refusal split, on every dialect: every refusal is counted as logged (a ledger
 * row, within the per-key cap) or unlogged (past it), refused = refused_logged +
 * refusals_unlogged holds in every rollup table, and the rollup audit reports a row where it
 * does not. Migration 7 fills the split for rollups written before it.
 * @module
 */
import assert from "node:assert/strict";
import { type Dialect } from "../support/databases.ts";
import { REFUSALS_SPLIT } from "../../db/rollup_audit.ts";
import type { Store } from "../../core/store.ts";
import { requestWindows } from "../../core/windows.ts";
import { REFUSAL_ROWS_PER_MINUTE } from "../../core/analytics/refusal_cap.ts";
import { ASK, newKey, start } from "../support/admissions.ts";
import { rawQuery, rawScript } from "../support/raw_query.ts";
import { eachDialect } from "../support/store_per_dialect.ts";

const BERLIN = "Europe/Berlin";
const TABLES = ["usage_15m", "usage_15m_all", "usage_day", "usage_day_all"] as const;

/** Runs SQL on the store's database behind its back (to read raw counters or break them). */
async function raw(
  dialect: Dialect,
  url: string,
  statement: string,
): Promise<Array<Record<string, unknown>>> {
  if (/^\s*select/i.test(statement)) return await rawQuery(dialect, url, statement);
  await rawScript(dialect, url, statement);
  return [];
}

/** The refusal counters of a rollup table, summed over its rows. */
async function refusals(dialect: Dialect, url: string, table: string) {
  const [r] = await raw(
    dialect,
    url,
    `SELECT COUNT(*) AS n, SUM(refused) AS refused, SUM(refused_logged) AS logged,
            SUM(refusals_unlogged) AS unlogged FROM ${table}`,
  );
  return {
    rows: Number(r.n),
    refused: Number(r.refused ?? 0),
    logged: Number(r.logged ?? 0),
    unlogged: Number(r.unlogged ?? 0),
  };
}

/** `n` refusals of `keyId` at once within one minute (PostgreSQL batches them). */
async function hammer(store: Store, keyId: number, at: string, n: number): Promise<void> {
  const instant = Temporal.Instant.from(at);
  const begun = {
    ...start(keyId, requestWindows(instant, BERLIN)),
    startedAt: instant.toString(),
  };
  const outcomes = await Promise.all(
    Array.from({ length: n }, () => store.admit(begun, ASK, instant.epochMilliseconds)),
  );
  assert.ok(outcomes.every((o) => o.kind === "refused"));
}

async function clean(store: Store) {
  assert.deepEqual(await store.audit(), []);
  assert.deepEqual(await store.auditRollups(), []);
}

/** Compacts 2026-06-15 (Berlin) into the per-day rollups. */
async function compact(store: Store): Promise<void> {
  const m = await store.maintainAnalytics({
    nowMs: Date.parse("2026-06-16T12:00:00Z"),
    timeZone: BERLIN,
    requestLogRetentionDays: 90,
    rollup15mRetentionDays: 35,
  });
  assert.ok(m.compactedDays >= 1);
}

eachDialect(
  "a key hammered past the log cap: refused = refused_logged + refusals_unlogged in every rollup",
  async (store, url, dialect) => {
    const key = await store.createKey(newKey({ daily_request_limit: 0 }));
    const n = REFUSAL_ROWS_PER_MINUTE * 3 + 7;
    // Two minutes: the cap starts over in the second one.
    await hammer(store, key.id, "2026-06-15T10:00:30Z", n);
    await hammer(store, key.id, "2026-06-15T10:01:30Z", 5);
    const total = n + 5, logged = REFUSAL_ROWS_PER_MINUTE + 5;
    const ledger = await raw(
      dialect,
      url,
      "SELECT COUNT(*) AS n FROM request_log WHERE state = 'refused'",
    );
    assert.equal(Number(ledger[0].n), logged);
    await clean(store);
    await compact(store);
    await clean(store);
    for (const table of TABLES) {
      const r = await refusals(dialect, url, table);
      assert.ok(r.rows > 0, `${table} has rows`);
      assert.deepEqual(
        { refused: r.refused, logged: r.logged, unlogged: r.unlogged },
        { refused: total, logged, unlogged: total - logged },
        table,
      );
    }
  },
);

eachDialect(
  "the rollup audit reports a row whose refusals_unlogged was changed, in each rollup table",
  async (store, url, dialect) => {
    const key = await store.createKey(newKey({ daily_request_limit: 0 }));
    await hammer(store, key.id, "2026-06-15T10:00:30Z", REFUSAL_ROWS_PER_MINUTE + 4);
    await compact(store);
    await clean(store);
    for (
      const [table, change] of [
        ["usage_15m", "+ 1"],
        ["usage_15m_all", "- 1"],
        ["usage_day", "+ 2"],
      ] as const
    ) {
      await raw(
        dialect,
        url,
        `UPDATE ${table} SET refusals_unlogged = refusals_unlogged ${change}`,
      );
      const found = await store.auditRollups();
      assert.ok(
        found.some((d) => d.table === table && d.field === REFUSALS_SPLIT),
        `${table}: ${JSON.stringify(found)}`,
      );
      await raw(
        dialect,
        url,
        `UPDATE ${table} SET refusals_unlogged = refused - refused_logged`,
      );
      await clean(store);
    }
    // A refusal past the cap lost (refused and unlogged both one less): the ledger cannot tell,
    // the key-less rollup (summed from the keyed one) can.
    await raw(
      dialect,
      url,
      `UPDATE usage_15m SET refused = refused - 1, refused_requests = refused_requests - 1,
         refusals_unlogged = refusals_unlogged - 1, requests = requests - 1`,
    );
    const lost = await store.auditRollups();
    assert.ok(
      lost.some((d) => d.table === "usage_15m_all" && d.field === "refusals_unlogged"),
      JSON.stringify(lost),
    );
  },
);

eachDialect(
  "migration 7 fills refusals_unlogged for rollups written before it",
  async (store, url, dialect) => {
    const key = await store.createKey(newKey({ daily_request_limit: 0 }));
    await hammer(store, key.id, "2026-06-15T10:00:30Z", REFUSAL_ROWS_PER_MINUTE + 9);
    await compact(store);
    await clean(store);
    // Back to a database without migration 7: its columns gone.
    await raw(
      dialect,
      url,
      TABLES.map((t) =>
        `ALTER TABLE ${t} DROP COLUMN refusals_unlogged; ALTER TABLE ${t} DROP COLUMN refused_model;`
      ).join("\n") + "\nDELETE FROM schema_migrations WHERE version = 7;",
    );
    await store.migrate();
    await clean(store);
    for (const table of TABLES) {
      assert.equal((await refusals(dialect, url, table)).unlogged, 9, table);
    }
  },
);

/** A request of `keyId` for `model` at `at`. */
function admitModel(store: Store, keyId: number, model: string, at: string) {
  const instant = Temporal.Instant.from(at);
  return store.admit(
    {
      keyId,
      memberId: null,
      windows: requestWindows(instant, BERLIN),
      route: "/api/chat",
      model,
      startedAt: instant.toString(),
      instanceId: "test",
    },
    { ...ASK, model },
    instant.epochMilliseconds,
  );
}

const DAY = {
  fromMs: Date.parse("2026-06-15T00:00:00Z"),
  toMs: Date.parse("2026-06-16T00:00:00Z"),
};

eachDialect(
  "a refusal by the key's own model list is counted as refused_model and logged under the cap",
  async (store, url, dialect) => {
    const key = await store.createKey(newKey({ models: ["llama3"] }));
    assert.equal(
      (await admitModel(store, key.id, "llama3", "2026-06-15T10:00:00Z")).kind,
      "admitted",
    );
    const refused = await admitModel(store, key.id, "mistral", "2026-06-15T10:00:10Z");
    assert.equal(refused.kind, "refused");
    const n = REFUSAL_ROWS_PER_MINUTE + 3;
    for (let i = 1; i < n; i++) {
      assert.equal(
        (await admitModel(store, key.id, "mistral", "2026-06-15T10:00:20Z")).kind,
        "refused",
      );
    }
    const [row] = await store.usage({ ...DAY, timeZone: BERLIN, groupBy: ["model"] })
      .then((rows) => rows.filter((r) => r.model === "mistral"));
    assert.equal(row.refused, n);
    assert.equal(row.refused_model, n);
    assert.equal(row.refused_other, 0);
    const log = await store.requestLog({ ...DAY, limit: 1000 });
    const refusedRows = log.filter((r) => r.status === "refused");
    assert.equal(refusedRows.length, REFUSAL_ROWS_PER_MINUTE);
    assert.ok(
      refusedRows.every((r) => r.refused_by === "model_not_allowed" && r.http_status === 403),
    );
    const [split] = await raw(
      dialect,
      url,
      "SELECT SUM(refused_model) AS m, SUM(refusals_unlogged) AS u FROM usage_15m_all",
    );
    assert.deepEqual([Number(split.m), Number(split.u)], [n, 3]);
    await clean(store);
    await compact(store);
    await clean(store);
  },
);

eachDialect(
  "migration 7 moves the ledger's model-list refusals from refused_other to refused_model",
  async (store, url, dialect) => {
    const key = await store.createKey(newKey({ models: ["llama3"] }));
    for (let i = 0; i < REFUSAL_ROWS_PER_MINUTE + 2; i++) {
      assert.equal(
        (await admitModel(store, key.id, "mistral", "2026-06-15T10:00:20Z")).kind,
        "refused",
      );
    }
    await compact(store);
    await clean(store);
    // Back to a database without migration 7: model refusals counted under refused_other.
    await raw(
      dialect,
      url,
      TABLES.map((t) =>
        `UPDATE ${t} SET refused_other = refused_other + refused_model;
         ALTER TABLE ${t} DROP COLUMN refusals_unlogged; ALTER TABLE ${t} DROP COLUMN refused_model;`
      ).join("\n") + "\nDELETE FROM schema_migrations WHERE version = 7;",
    );
    await store.migrate();
    await clean(store);
    for (const table of TABLES) {
      const [r] = await raw(
        dialect,
        url,
        `SELECT SUM(refused_model) AS m, SUM(refused_other) AS o, SUM(refusals_unlogged) AS u
           FROM ${table}`,
      );
      // The logged ones move; the two past the cap cannot be told apart and stay "other".
      assert.deepEqual(
        [Number(r.m), Number(r.o), Number(r.u)],
        [REFUSAL_ROWS_PER_MINUTE, 2, 2],
        table,
      );
    }
  },
);
