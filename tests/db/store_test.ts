import { rawQuery } from "../support/raw_query.ts";
/**
 * Contract tests of the Store interface, run against every dialect from testDialects(): both
 * adapters must apply core/admission.ts and core/settlement.ts exactly.
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { createTestDatabase, type Dialect, testDialects } from "../support/databases.ts";
import { openSqliteStore, sqlitePath } from "../../db/sqlite.ts";
import { openPostgresStore } from "../../db/postgres.ts";
import { sqliteMigrations } from "../../db/migrations/sqlite.ts";
import { postgresMigrations } from "../../db/migrations/postgres.ts";
import type { Admission, Settlement, Store, WindowKeys } from "../../core/store.ts";
import type { Ask } from "../../core/admission.ts";
import { policyWith } from "../../core/api_keys.ts";
import { OPEN_POLICY } from "../../core/model.ts";
import { type Charge, counterChanges, type PriorState } from "../../core/settlement.ts";
import { keyHistory } from "../../core/analytics/key_history.ts";
import { ASK, JAN_15, newKey, NOW_MS, STARTED_AT } from "../support/admissions.ts";

const JAN_14: WindowKeys = { ...JAN_15, minute: "2025-01-14T10:00", day: "2025-01-14" };
const DEC_31: WindowKeys = {
  minute: "2024-12-31T10:00",
  day: "2024-12-31",
  monthStart: "2024-12-01",
  monthEnd: "2025-01-01",
};
const NEXT_MINUTE: WindowKeys = { ...JAN_15, minute: "2025-01-15T10:01" };

/** Opens a store without migrating it. */
function openRaw(dialect: Dialect, url: string): Promise<Store> {
  return dialect === "sqlite"
    ? Promise.resolve(openSqliteStore(url))
    : openPostgresStore(url, { poolSize: 10, connectTimeoutSeconds: 5 });
}

/** Runs `fn` with `count` stores opened on one fresh database; closes and drops in any case. */
async function withStores(
  dialect: Dialect,
  count: number,
  fn: (stores: Store[], url: string) => Promise<void>,
  options: { migrate?: boolean } = {},
): Promise<void> {
  const db = await createTestDatabase(dialect);
  const stores: Store[] = [];
  try {
    for (let i = 0; i < count; i++) stores.push(await openRaw(dialect, db.url));
    if (options.migrate !== false) await stores[0].migrate();
    await fn(stores, db.url);
  } finally {
    for (const s of stores) await s.close();
    await db.drop();
  }
}

const withStore = (dialect: Dialect, fn: (store: Store, url: string) => Promise<void>) =>
  withStores(dialect, 1, ([store], url) => fn(store, url));

const query = rawQuery;

/** The counters of a key's day row and minute row, read straight from the database. */
async function counters(
  dialect: Dialect,
  url: string,
  keyId: number,
  w: WindowKeys = JAN_15,
  scope = "key",
) {
  const [day] = await query(
    dialect,
    url,
    "SELECT requests, prompt_tokens, completion_tokens, reserved_tokens FROM usage_counters WHERE scope = ? AND owner_id = ? AND period = 'day' AND bucket = ?",
    [scope, keyId, w.day],
  );
  const [minute] = await query(
    dialect,
    url,
    "SELECT requests, prompt_tokens + completion_tokens AS tokens, reserved_tokens FROM usage_counters WHERE scope = ? AND owner_id = ? AND period = 'minute' AND bucket = ?",
    [scope, keyId, w.minute],
  );
  const n = (row: Record<string, unknown> | undefined, f: string) => Number(row?.[f] ?? 0);
  return {
    requests: n(day, "requests"),
    prompt: n(day, "prompt_tokens"),
    completion: n(day, "completion_tokens"),
    reserved: n(day, "reserved_tokens"),
    minuteRequests: n(minute, "requests"),
    minuteTokens: n(minute, "tokens"),
    minuteReserved: n(minute, "reserved_tokens"),
  };
}

/** The ledger row of a request, read straight from the database. */
async function ledgerRow(dialect: Dialect, url: string, id: number) {
  const [row] = await query(
    dialect,
    url,
    "SELECT state, charged, prompt_tokens, completion_tokens, estimated, status, duration_ms FROM request_log WHERE id = ?",
    [id],
  );
  return {
    state: row.state,
    charged: Boolean(row.charged),
    prompt_tokens: Number(row.prompt_tokens),
    completion_tokens: Number(row.completion_tokens),
    estimated: Boolean(row.estimated),
    status: Number(row.status),
    duration_ms: Number(row.duration_ms),
  };
}

const startOf = (
  keyId: number,
  windows: WindowKeys = JAN_15,
  instanceId = "gw-a",
  memberId: number | null = null,
) => ({
  keyId,
  memberId,
  windows,
  route: "/v1/chat/completions",
  model: "llama3",
  startedAt: windows === JAN_15 || windows === NEXT_MINUTE
    ? STARTED_AT
    : `${windows.day}T10:00:00.000Z`,
  instanceId,
});

const admit = (
  store: Store,
  keyId: number,
  windows: WindowKeys = JAN_15,
  ask: Ask = ASK,
  instanceId = "gw-a",
) => store.admit(startOf(keyId, windows, instanceId), ask, NOW_MS);

/** The ledger id of an admission, failing the test when it was not admitted. */
function admittedId(a: Admission): number {
  assert.equal(a.kind, "admitted", JSON.stringify(a));
  return (a as Admission & { kind: "admitted" }).requestId;
}

const CHARGED: Charge = {
  charged: true,
  promptTokens: 12,
  completionTokens: 30,
  estimated: false,
  status: 200,
};
const UNCHARGED: Charge = {
  charged: false,
  promptTokens: 0,
  completionTokens: 0,
  estimated: false,
  status: 502,
};

const settlement = (requestId: number, charge: Charge = CHARGED): Settlement => ({
  requestId,
  charge,
  durationMs: 850,
});

/** Cutoffs that take every pending request for abandoned. */
const EVERYTHING_STALE = {
  startedBefore: "2030-01-01T00:00:00.000Z",
  silentSince: "1970-01-01T00:00:00.000Z",
  minutesBefore: "1970-01-01T00:00:00.000Z",
};
/** Cutoffs that release nothing by age and only gateways silent since before 2026. */
const SILENT_SINCE_2026 = {
  startedBefore: "2000-01-01T00:00:00.000Z",
  silentSince: "2026-01-01T00:00:00.000Z",
  minutesBefore: "1970-01-01T00:00:00.000Z",
};

for (const dialect of testDialects()) {
  const migrations = dialect === "sqlite" ? sqliteMigrations : postgresMigrations;
  const allVersions = migrations.map((m) => m.version);

  Deno.test(`[${dialect}] migrate() twice is idempotent and records each migration once`, () =>
    withStores(dialect, 1, async ([store], url) => {
      await store.migrate();
      await store.migrate();
      const rows = await query(
        dialect,
        url,
        "SELECT version FROM schema_migrations ORDER BY version",
      );
      assert.deepEqual(rows.map((r) => Number(r.version)), allVersions);
      const key = await store.createKey(newKey());
      assert.equal((await store.getKey(key.id))?.name, key.name);
    }, { migrate: false }));

  Deno.test(`[${dialect}] two concurrent migrate() calls on a fresh database both succeed`, () =>
    withStores(dialect, 2, async ([a, b], url) => {
      await Promise.all([a.migrate(), b.migrate()]);
      const rows = await query(
        dialect,
        url,
        "SELECT version FROM schema_migrations ORDER BY version",
      );
      assert.deepEqual(rows.map((r) => Number(r.version)), allVersions);
      const key = await a.createKey(newKey());
      assert.equal((await b.getKey(key.id))?.id, key.id);
    }, { migrate: false }));

  Deno.test(`[${dialect}] a database of the first schema keeps its keys' limits and usage`, () =>
    withStores(dialect, 1, async ([store], url) => {
      // The first version's schema, as a gateway of that version left it.
      const first = migrations[0];
      if (dialect === "sqlite") {
        const db = new DatabaseSync(sqlitePath(url));
        db.exec(first.sql);
        db.exec(
          "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        );
        db.exec("INSERT INTO schema_migrations VALUES (1, 'initial', '2025-01-01T00:00:00Z')");
        db.close();
      } else {
        const pg = postgres(url, { max: 1, onnotice: () => {} });
        await pg.unsafe(first.sql);
        await pg.unsafe(
          "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
        );
        await pg.unsafe("INSERT INTO schema_migrations VALUES (1, 'initial', now())");
        await pg.end();
      }
      await query(
        dialect,
        url,
        `INSERT INTO api_keys (name, prefix, key_hash, created_at, daily_request_limit,
           monthly_token_limit) VALUES ('old', 'sk-old', 'h1', '2025-01-01T00:00:00Z', 5, 900)`,
      );
      await query(
        dialect,
        url,
        `INSERT INTO api_keys (name, prefix, key_hash, created_at) VALUES ('free', 'sk-free', 'h2', '2025-01-01T00:00:00Z')`,
      );
      await store.migrate();
      const [old, free] = await store.listKeys();
      assert.deepEqual(old.policy, {
        ...OPEN_POLICY,
        limits: [
          { metric: "requests", window: "day", max: 5 },
          { metric: "tokens", window: "month", max: 900 },
        ],
      });
      assert.deepEqual(free.policy, OPEN_POLICY);
      assert.equal(admittedId(await admit(store, old.id)) > 0, true);
    }, { migrate: false }));

  Deno.test(`[${dialect}] created keys can be listed, got by id and found by hash`, () =>
    withStore(dialect, async (store) => {
      const input = {
        ...newKey({ daily_request_limit: 5, monthly_token_limit: 1_000_000, models: ["llama3"] }),
        expires_at: "2026-06-30T12:00:00.000Z",
      };
      const created = await store.createKey(input);
      assert.equal(typeof created.id, "number");
      assert.deepEqual(created, {
        id: created.id,
        name: input.name,
        prefix: input.prefix,
        active: true,
        created_at: input.created_at,
        expires_at: input.expires_at,
        last_used_at: null,
        activated_at: null,
        policy: input.policy,
        group_id: null,
        delegation: null,
      });
      assert.equal("key_hash" in created, false);
      const second = await store.createKey(newKey());
      assert.deepEqual((await store.listKeys()).map((k) => k.id), [created.id, second.id]);
      assert.deepEqual(await store.getKey(created.id), created);
      assert.deepEqual(await store.findKeyByHash(input.key_hash), created);
      assert.equal(await store.findKeyByHash("no-such-hash"), null);
      assert.equal(await store.getKey(created.id + 1000), null);
    }));

  Deno.test(`[${dialect}] updateKey changes only given fields`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ daily_request_limit: 5, daily_token_limit: 50 }));
      assert.deepEqual(await store.updateKey(key.id, {}), key);
      const renamed = await store.updateKey(key.id, { name: "renamed" });
      assert.deepEqual(renamed, { ...key, name: "renamed" });
      const policy = policyWith(key.policy, { daily_request_limit: null, max_output_tokens: 64 });
      const changed = await store.updateKey(key.id, { policy });
      assert.deepEqual(changed, { ...renamed, policy });
      const expiring = await store.updateKey(key.id, {
        active: false,
        expires_at: "2025-03-01T00:00:00.000Z",
      });
      assert.equal(expiring?.active, false);
      assert.equal(expiring?.expires_at, "2025-03-01T00:00:00.000Z");
      assert.deepEqual(expiring?.policy, policy);
      const cleared = await store.updateKey(key.id, { expires_at: null, active: true });
      assert.deepEqual(cleared, changed);
      assert.deepEqual(await store.getKey(key.id), cleared);
      assert.equal(await store.updateKey(key.id + 1000, { name: "x" }), null);
    }));

  Deno.test(`[${dialect}] a deleted key is gone for use and listing; its ledger stays`, () =>
    withStore(dialect, async (store) => {
      const input = newKey();
      const key = await store.createKey(input);
      const other = await store.createKey(newKey());
      admittedId(await admit(store, key.id));
      admittedId(await admit(store, other.id));
      assert.equal(await store.deleteKey(key.id), true);
      assert.equal(await store.getKey(key.id), null);
      assert.deepEqual((await store.listKeys()).map((k) => k.id), [other.id]);
      assert.equal(await store.findKeyByHash(input.key_hash), null);
      // Who used what stays on the ledger, and its counters with it (the audit agrees).
      const usage = await store.usageByOwner("key", JAN_15);
      assert.equal(usage.get(key.id)?.today.requests, 1);
      assert.equal(usage.get(other.id)?.today.requests, 1);
      assert.deepEqual(await store.audit(), []);
      assert.equal(await store.deleteKey(key.id), false);
      assert.equal((await admit(store, key.id)).kind, "missing");
    }));

  Deno.test(`[${dialect}] seedSettings keeps stored values and updateSettings patches`, () =>
    withStore(dialect, async (store) => {
      assert.deepEqual(await store.getSettings(), {});
      await store.seedSettings({ ollama_url: "http://a:11434", default_model: "llama3" });
      await store.seedSettings({ ollama_url: "http://b:11434", default_model: "qwen" });
      assert.deepEqual(await store.getSettings(), {
        ollama_url: "http://a:11434",
        default_model: "llama3",
      });
      const updated = await store.updateSettings({ default_model: "mistral", num_ctx_max: "4096" });
      assert.deepEqual(updated, {
        ollama_url: "http://a:11434",
        default_model: "mistral",
        num_ctx_max: "4096",
      });
      assert.deepEqual(await store.getSettings(), updated);
    }));

  Deno.test(
    `[${dialect}] admit takes a request unit and holds the reservation until settle releases it`,
    () =>
      withStore(dialect, async (store, url) => {
        const key = await store.createKey(newKey({ daily_token_limit: 1000 }));
        const first = await admit(store, key.id);
        const firstId = admittedId(first);
        assert.equal(first.kind === "admitted" && first.decision.reservation, 110);
        assert.equal(first.kind === "admitted" && first.decision.quota.tokens?.remaining, 890);
        assert.equal((await store.getKey(key.id))?.last_used_at, STARTED_AT);

        // The next decision sees the first one's reservation.
        const second = await admit(store, key.id);
        assert.notEqual(admittedId(second), firstId);
        assert.equal(second.kind === "admitted" && second.decision.quota.tokens?.remaining, 780);
        assert.deepEqual(await counters(dialect, url, key.id), {
          requests: 2,
          prompt: 0,
          completion: 0,
          reserved: 220,
          minuteRequests: 0,
          minuteTokens: 0,
          minuteReserved: 0,
        });

        await store.settle(settlement(firstId));
        const third = await admit(store, key.id);
        // 1000 - 42 settled - 110 still reserved - 110 for this one.
        assert.equal(third.kind === "admitted" && third.decision.quota.tokens?.remaining, 738);
        assert.deepEqual((await store.usageByOwner("key", JAN_15)).get(key.id)?.today, {
          requests: 3,
          prompt_tokens: 12,
          completion_tokens: 30,
          tokens: 42,
        });
        assert.deepEqual(await ledgerRow(dialect, url, firstId), {
          state: "settled",
          charged: true,
          prompt_tokens: 12,
          completion_tokens: 30,
          estimated: false,
          status: 200,
          duration_ms: 850,
        });
        assert.deepEqual(await store.audit(), []);
      }),
  );

  // The settlement rule, written once in core/settlement.ts: each adapter must change the
  // counters exactly as counterChanges says, for every prior state of the ledger row.
  for (const prior of ["pending", "abandoned", "settled", "missing"] as PriorState[]) {
    for (const [name, charge] of [["charged", CHARGED], ["uncharged", UNCHARGED]] as const) {
      Deno.test(
        `[${dialect}] settlement contract: a ${name} settle of a ${prior} request follows counterChanges`,
        () =>
          withStore(dialect, async (store, url) => {
            const key = await store.createKey(
              newKey({ daily_token_limit: 10_000, tokens_per_minute: 10_000 }),
            );
            const id = admittedId(await admit(store, key.id));
            if (prior === "abandoned") assert.equal(await store.releaseStale(EVERYTHING_STALE), 1);
            if (prior === "settled") await store.settle(settlement(id));
            const before = await counters(dialect, url, key.id);
            await store.settle(settlement(prior === "missing" ? id + 1000 : id, charge));
            const after = await counters(dialect, url, key.id);
            const c = counterChanges(prior, 110, charge);
            const expect = c === null ? before : {
              requests: before.requests - c.requestsBack,
              prompt: before.prompt + c.promptTokens,
              completion: before.completion + c.completionTokens,
              reserved: before.reserved - c.released,
              minuteRequests: before.minuteRequests - c.requestsBack,
              minuteTokens: before.minuteTokens + c.promptTokens + c.completionTokens,
              minuteReserved: before.minuteReserved - c.released,
            };
            assert.deepEqual(after, expect);
            if (c !== null) {
              const row = await ledgerRow(dialect, url, id);
              assert.deepEqual([row.state, row.charged], ["settled", c.charged]);
            }
            assert.deepEqual(await store.audit(), []);
          }),
      );
    }
  }

  Deno.test(`[${dialect}] an uncharged settlement gives the request unit back`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ daily_request_limit: 1 }));
      const id = admittedId(await admit(store, key.id));
      const refused = await admit(store, key.id);
      assert.equal(refused.kind, "refused");
      await store.settle(settlement(id, UNCHARGED));
      assert.deepEqual((await store.usageByOwner("key", JAN_15)).get(key.id)?.today, {
        requests: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        tokens: 0,
      });
      assert.equal((await admit(store, key.id)).kind, "admitted");
    }));

  Deno.test(`[${dialect}] last_used_at is written once a minute, not on every admission`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey());
      const at = (startedAt: string) =>
        store.admit({ ...startOf(key.id), startedAt }, ASK, Date.parse(startedAt));
      admittedId(await at(STARTED_AT));
      assert.equal((await store.getKey(key.id))?.last_used_at, STARTED_AT);
      // The same minute: the stored minute stands (no row write).
      admittedId(await at("2025-01-15T10:00:59.000Z"));
      assert.equal((await store.getKey(key.id))?.last_used_at, STARTED_AT);
      // The next minute: written.
      admittedId(await at("2025-01-15T10:01:00.000Z"));
      assert.equal((await store.getKey(key.id))?.last_used_at, "2025-01-15T10:01:00.000Z");
    }));

  Deno.test(`[${dialect}] a refused admission changes no counters and no last_used_at`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ daily_request_limit: 0 }));
      const refused = await admit(store, key.id);
      assert.equal(
        refused.kind === "refused" && "limit" in refused.decision && refused.decision.limit.window,
        "day",
      );
      assert.equal((await store.usageByOwner("key", JAN_15)).has(key.id), false);
      assert.equal((await store.getKey(key.id))?.last_used_at, null);
      assert.equal((await admit(store, key.id + 1000)).kind, "missing");
    }));

  Deno.test(`[${dialect}] a key deactivated, expired or idle is refused inside the transaction`, () =>
    withStore(dialect, async (store) => {
      const off = await store.createKey(newKey());
      await store.updateKey(off.id, { active: false });
      const expired = await store.createKey({ ...newKey(), expires_at: "2025-01-15T09:00:00Z" });
      // Created on Jan 1 and never used: 10 idle days ended on Jan 11.
      const idle = await store.createKey(newKey({ idle_days: 10 }));
      const fresh = await store.createKey(newKey({ idle_days: 30 }));
      for (const key of [off, expired, idle]) {
        assert.equal((await admit(store, key.id)).kind, "unusable", key.name);
      }
      admittedId(await admit(store, fresh.id));
      assert.deepEqual([...(await store.usageByOwner("key", JAN_15)).keys()], [fresh.id]);
    }));

  Deno.test(`[${dialect}] month sums cover every day of the month and no other month`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ monthly_request_limit: 3 }));
      admittedId(await admit(store, key.id, DEC_31));
      admittedId(await admit(store, key.id, JAN_14));
      admittedId(await admit(store, key.id, JAN_14));
      const last = await admit(store, key.id, JAN_15);
      assert.equal(last.kind === "admitted" && last.decision.quota.requests?.remaining, 0);
      const refused = await admit(store, key.id, JAN_15);
      assert.equal(
        refused.kind === "refused" && "limit" in refused.decision && refused.decision.limit.window,
        "month",
      );
      const usage = (await store.usageByOwner("key", JAN_15)).get(key.id);
      assert.equal(usage?.today.requests, 1);
      assert.equal(usage?.month.requests, 3);
      assert.equal((await store.usageByOwner("key", DEC_31)).get(key.id)?.month.requests, 1);
      const later = await store.usageByOwner("key", {
        minute: "2025-03-01T00:00",
        day: "2025-03-01",
        monthStart: "2025-03-01",
        monthEnd: "2025-04-01",
      });
      assert.equal(later.size, 0);
    }));

  Deno.test(`[${dialect}] late in a month the day limit counts today, the month limit every day`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(
        newKey({ daily_request_limit: 2, monthly_request_limit: 10 }),
      );
      const dayOf = (d: string): WindowKeys => ({
        ...JAN_15,
        minute: `2025-01-${d}T10:00`,
        day: `2025-01-${d}`,
      });
      // Two settled requests on each of three earlier days, one still running from a fourth.
      for (const d of ["01", "02", "03"]) {
        for (let i = 0; i < 2; i++) {
          await store.settle(settlement(admittedId(await admit(store, key.id, dayOf(d)))));
        }
      }
      admittedId(await admit(store, key.id, dayOf("04")));
      admittedId(await admit(store, key.id));
      admittedId(await admit(store, key.id));
      const third = await admit(store, key.id);
      assert.equal(
        third.kind === "refused" && "limit" in third.decision && third.decision.limit.window,
        "day",
      );
      const usage = (await store.usageByOwner("key", JAN_15)).get(key.id);
      assert.equal(usage?.today.requests, 2);
      assert.equal(usage?.month.requests, 9);
      assert.equal(usage?.month.tokens, 6 * 42);
      admittedId(await admit(store, key.id, dayOf("16")));
      const over = await admit(store, key.id, dayOf("16"));
      assert.equal(
        over.kind === "refused" && "limit" in over.decision && over.decision.limit.window,
        "month",
      );
    }));

  Deno.test(`[${dialect}] the month counts today's requests once, not twice`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ monthly_request_limit: 4 }));
      admittedId(await admit(store, key.id, JAN_14));
      admittedId(await admit(store, key.id));
      admittedId(await admit(store, key.id));
      // One earlier day and two today: three of four, so a fourth fits, and exactly fits.
      const fourth = await admit(store, key.id);
      assert.equal(fourth.kind === "admitted" && fourth.decision.quota.requests?.remaining, 0);
      const usage = (await store.usageByOwner("key", JAN_15)).get(key.id);
      assert.equal(usage?.today.requests, 3);
      assert.equal(usage?.month.requests, 4);
    }));

  Deno.test(`[${dialect}] a per-minute request limit counts one minute, exactly`, () =>
    withStore(dialect, async (store, url) => {
      const key = await store.createKey(newKey({ requests_per_minute: 3 }));
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push(admittedId(await admit(store, key.id)));
      const refused = await admit(store, key.id);
      assert.equal(
        refused.kind === "refused" && "limit" in refused.decision && refused.decision.limit.window,
        "minute",
      );
      admittedId(await admit(store, key.id, NEXT_MINUTE));
      // An uncharged request gives its unit back to its own minute.
      await store.settle(settlement(ids[0], UNCHARGED));
      admittedId(await admit(store, key.id));
      assert.equal((await counters(dialect, url, key.id)).minuteRequests, 3);
      assert.equal((await counters(dialect, url, key.id, NEXT_MINUTE)).minuteRequests, 1);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test(`[${dialect}] a store call that fails among others in flight fails alone`, () =>
    withStore(dialect, async (store, url) => {
      const key = await store.createKey(newKey({ daily_request_limit: 10 }));
      const first = admittedId(await admit(store, key.id));
      const second = admittedId(await admit(store, key.id));
      // Issued together, so SQLite's group commit runs them in one transaction: the settlement
      // with an impossible token count fails, and must take nothing of the others with it.
      const together = await Promise.allSettled([
        admit(store, key.id),
        store.settle(settlement(first)),
        store.settle(settlement(second, { ...CHARGED, promptTokens: NaN })),
        admit(store, key.id),
        admit(store, key.id),
      ]);
      assert.deepEqual(together.map((r) => r.status), [
        "fulfilled",
        "fulfilled",
        "rejected",
        "fulfilled",
        "fulfilled",
      ]);
      for (const i of [0, 3, 4]) {
        admittedId((together[i] as PromiseFulfilledResult<Admission>).value);
      }
      // Five admitted, one settled with 42 tokens; the failed settlement left its request pending.
      const c = await counters(dialect, url, key.id);
      assert.deepEqual([c.requests, c.prompt + c.completion], [5, 42]);
      assert.equal((await ledgerRow(dialect, url, second)).state, "pending");
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test(`[${dialect}] an admission naming a member that is not there is refused as missing`, () =>
    withStore(dialect, async (store, url) => {
      const key = await store.createKey(newKey({ daily_request_limit: 10 }));
      // Counted without its member, the request would escape the member's limits.
      const admission = await store.admit(startOf(key.id, JAN_15, "gw-a", 987654), ASK, NOW_MS);
      assert.deepEqual(admission, { kind: "missing" });
      assert.equal((await counters(dialect, url, key.id)).requests, 0);
    }));

  Deno.test(`[${dialect}] a policy edited between two admissions applies to the second`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ requests_per_minute: 5 }));
      admittedId(await admit(store, key.id));
      // Parsed policies are shared by stored text: what one reader holds cannot be changed.
      const read = (await store.getKey(key.id))!;
      assert.throws(() => read.policy.limits.push({ metric: "requests", window: "day", max: 0 }));
      assert.equal(Object.isFrozen(read.policy), true);
      const tight = policyWith(read.policy, { requests_per_minute: 1 });
      await store.updateKey(key.id, { policy: tight });
      const refused = await admit(store, key.id);
      assert.equal(refused.kind === "refused" && "limit" in refused.decision, true);
      await store.updateKey(key.id, { policy: read.policy });
      admittedId(await admit(store, key.id));
      // A second key with the same stored policy reads an equal one, and is counted alone.
      const twin = await store.createKey(newKey({ requests_per_minute: 5 }));
      assert.deepEqual((await store.getKey(twin.id))!.policy, read.policy);
      admittedId(await admit(store, twin.id));
    }));

  Deno.test(`[${dialect}] tokens per minute are reserved, then settled in the request's minute`, () =>
    withStore(dialect, async (store, url) => {
      const key = await store.createKey(newKey({ tokens_per_minute: 200 }));
      const id = admittedId(await admit(store, key.id));
      // 200 - 110 reserved leaves 90: the second request's generation cap shrinks to 80.
      const second = await admit(store, key.id);
      assert.equal(second.kind === "admitted" && second.decision.generationCap, 80);
      const third = await admit(store, key.id);
      assert.equal(third.kind === "refused" && third.decision.reason, "reserved");
      await store.settle(settlement(id));
      assert.deepEqual(
        [
          (await counters(dialect, url, key.id)).minuteTokens,
          (await counters(dialect, url, key.id)).minuteReserved,
        ],
        [42, 90],
      );
      assert.equal((await admit(store, key.id, NEXT_MINUTE)).kind, "admitted");
    }));

  Deno.test(`[${dialect}] max_concurrent counts requests in flight; a silent gateway's are freed`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ max_concurrent: 2 }));
      await store.heartbeat("gw-a", "2026-06-01T00:00:00.000Z");
      await store.heartbeat("gw-b", "2025-12-31T00:00:00.000Z");
      const a = admittedId(await admit(store, key.id, JAN_15, ASK, "gw-a"));
      admittedId(await admit(store, key.id, JAN_15, ASK, "gw-b"));
      const third = await admit(store, key.id);
      assert.equal(
        third.kind === "refused" && "limit" in third.decision && third.decision.limit.metric,
        "concurrent",
      );
      assert.equal((await store.liveUsageByKey(JAN_15.minute)).get(key.id)?.inFlight, 2);
      await store.settle(settlement(a));
      admittedId(await admit(store, key.id, JAN_15, ASK, "gw-a"));
      assert.equal((await admit(store, key.id)).kind, "refused");
      // gw-b went silent: its request is released, gw-a's are not.
      assert.equal(await store.releaseStale(SILENT_SINCE_2026), 1);
      admittedId(await admit(store, key.id, JAN_15, ASK, "gw-a"));
      assert.equal((await store.liveUsageByKey(JAN_15.minute)).get(key.id)?.inFlight, 2);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test(`[${dialect}] snapshots show what admission sees, without admitting`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ daily_token_limit: 1000, max_concurrent: 5 }));
      const id = admittedId(await admit(store, key.id));
      admittedId(await admit(store, key.id));
      await store.settle(settlement(id));
      const snapshots = await store.snapshots([{ scope: "key", id: key.id }], JAN_15);
      const s = snapshots.get(`key:${key.id}`)!;
      assert.deepEqual([s.day.requests, s.day.tokens, s.day.reserved, s.inFlight], [2, 42, 110, 1]);
      assert.deepEqual(s.month, s.day);
      // One request settled (in the rollups), one in flight (only in the log).
      const history = await keyHistory(
        store,
        key.id,
        Temporal.Instant.from("2025-01-15T12:00:00Z"),
        "Europe/Berlin",
        30,
      );
      assert.deepEqual(history, [{
        day: "2025-01-15",
        model: "llama3",
        requests: 2,
        prompt_tokens: 12,
        completion_tokens: 30,
      }]);
    }));

  Deno.test(`[${dialect}] usageByOwner reports each key separately`, () =>
    withStore(dialect, async (store) => {
      const a = await store.createKey(newKey());
      const b = await store.createKey(newKey());
      const idle = await store.createKey(newKey());
      await admit(store, a.id);
      await admit(store, a.id, JAN_14);
      await admit(store, b.id);
      const usage = await store.usageByOwner("key", JAN_15);
      assert.deepEqual([...usage.keys()].sort((x, y) => x - y), [a.id, b.id]);
      assert.equal(usage.has(idle.id), false);
      assert.deepEqual([usage.get(a.id)?.today.requests, usage.get(a.id)?.month.requests], [1, 2]);
      assert.deepEqual([usage.get(b.id)?.today.requests, usage.get(b.id)?.month.requests], [1, 1]);
    }));

  Deno.test(
    `[${dialect}] 100 concurrent admissions on a key limited to 20 a day admit exactly 20`,
    () =>
      withStore(dialect, async (store) => {
        const key = await store.createKey(newKey({ daily_request_limit: 20 }));
        const results = await Promise.all(
          Array.from({ length: 100 }, () => admit(store, key.id)),
        );
        const ids = results.filter((r) => r.kind === "admitted").map(admittedId);
        assert.equal(ids.length, 20);
        assert.equal(new Set(ids).size, 20);
        assert.equal((await store.usageByOwner("key", JAN_15)).get(key.id)?.today.requests, 20);
      }),
  );

  Deno.test(
    `[${dialect}] concurrent admissions through two store instances still admit exactly 20`,
    () =>
      withStores(dialect, 2, async ([a, b]) => {
        const key = await a.createKey(newKey({ daily_request_limit: 20 }));
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => admit(i % 2 ? a : b, key.id)),
        );
        assert.equal(results.filter((r) => r.kind === "admitted").length, 20);
        assert.equal((await b.usageByOwner("key", JAN_15)).get(key.id)?.today.requests, 20);
      }),
  );
}

Deno.test("[postgres] an unreachable server is retried, then reported without the password", async () => {
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
  try {
    await assert.rejects(
      openPostgresStore("postgres://gateway:s3cret-pw@127.0.0.1:1/quota", {
        connectTimeoutSeconds: 1,
      }),
      (err: Error) => {
        assert.match(
          err.message,
          /^Cannot connect to PostgreSQL at gateway@127\.0\.0\.1:1\/quota: /,
        );
        assert.doesNotMatch(err.message, /s3cret-pw/);
        return true;
      },
    );
  } finally {
    console.warn = warn;
  }
  assert.ok(warnings.length >= 1);
  for (const line of warnings) {
    assert.match(line, /^Database not reachable \(gateway@127\.0\.0\.1:1\/quota.*retrying in /);
    assert.doesNotMatch(line, /s3cret-pw/);
  }
});

if (testDialects().includes("postgres")) {
  Deno.test("[postgres] a missing database fails at once instead of being retried", async () => {
    const db = await createTestDatabase("postgres");
    const url = new URL(db.url);
    await db.drop();
    const began = Date.now();
    await assert.rejects(
      openPostgresStore(url.toString(), { connectTimeoutSeconds: 30 }),
      /Cannot connect to PostgreSQL at .*: .*does not exist/,
    );
    assert.ok(Date.now() - began < 5000);
  });
}
