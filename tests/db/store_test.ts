/**
 * Contract tests of the Store interface, run against every dialect from testDialects().
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
import type { ApiKey, NewApiKey, Settlement, Store, WindowKeys } from "../../db/store.ts";
import { type Ask, decideAdmission, type Decision, type WindowUsage } from "../../core/quota.ts";

const JAN_15: WindowKeys = { day: "2025-01-15", monthStart: "2025-01-01", monthEnd: "2025-02-01" };
const JAN_14: WindowKeys = { ...JAN_15, day: "2025-01-14" };
const DEC_31: WindowKeys = { day: "2024-12-31", monthStart: "2024-12-01", monthEnd: "2025-01-01" };
const STARTED_AT = "2025-01-15T10:00:00.000Z";
const ASK: Ask = {
  promptTokens: 10,
  generates: true,
  clientMaxTokens: null,
  maxReservedTokens: 100,
};

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

const withStore = (dialect: Dialect, fn: (store: Store) => Promise<void>) =>
  withStores(dialect, 1, ([store]) => fn(store));

/** Reads the applied migration versions straight from the database. */
async function appliedVersions(dialect: Dialect, url: string): Promise<number[]> {
  if (dialect === "sqlite") {
    const db = new DatabaseSync(sqlitePath(url));
    try {
      return db.prepare("SELECT version FROM schema_migrations ORDER BY version").all()
        .map((r) => Number(r.version));
    } finally {
      db.close();
    }
  }
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`SELECT version FROM schema_migrations ORDER BY version`;
    return rows.map((r) => Number(r.version));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The ledger row of a request, read straight from the database. */
async function ledgerRow(dialect: Dialect, url: string, id: number) {
  const query =
    "SELECT state, charged, prompt_tokens, completion_tokens, estimated, status, duration_ms FROM request_log WHERE id = ";
  let row: Record<string, unknown>;
  if (dialect === "sqlite") {
    const db = new DatabaseSync(sqlitePath(url));
    try {
      row = db.prepare(query + "?").get(id)!;
    } finally {
      db.close();
    }
  } else {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      [row] = await sql.unsafe(query + "$1", [id]);
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
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

let keySeq = 0;
function newKey(overrides: Partial<NewApiKey> = {}): NewApiKey {
  keySeq++;
  return {
    name: `key ${keySeq}`,
    prefix: `lq_${keySeq}`,
    key_hash: `hash-${keySeq}-${crypto.randomUUID()}`,
    expires_at: null,
    created_at: "2025-01-01T00:00:00.000Z",
    daily_request_limit: null,
    monthly_request_limit: null,
    daily_token_limit: null,
    monthly_token_limit: null,
    ...overrides,
  };
}

/** A decide callback that applies the real rule and remembers the usage it was shown. */
function recordingDecide(ask: Ask = ASK) {
  const seen: WindowUsage[] = [];
  const decide = (key: ApiKey, usage: WindowUsage): Decision => {
    seen.push(structuredClone(usage));
    return decideAdmission(key, usage, ask);
  };
  return { seen, decide };
}

const start = (keyId: number, windows: WindowKeys = JAN_15, startedAt = STARTED_AT) => ({
  keyId,
  windows,
  route: "/v1/chat/completions",
  model: "llama3",
  startedAt,
});

const decideReal = (key: ApiKey, usage: WindowUsage) => decideAdmission(key, usage, ASK);

/** A charged settlement of a request admitted with ASK under a token limit (reservation 110). */
const settlement = (
  requestId: number,
  keyId: number,
  overrides: Partial<Settlement> = {},
): Settlement => ({
  requestId,
  keyId,
  day: JAN_15.day,
  reservation: 110,
  charged: true,
  promptTokens: 12,
  completionTokens: 30,
  estimated: false,
  status: 200,
  durationMs: 850,
  ...overrides,
});

/** The key's JAN_15 usage as admission sees it (reservations included); admits nothing. */
async function dayUsage(store: Store, keyId: number): Promise<WindowUsage["day"]> {
  let seen: WindowUsage | undefined;
  await assert.rejects(
    store.admit(start(keyId), (_key, usage) => {
      seen = usage;
      throw new Error("probe only");
    }),
    /probe only/,
  );
  return seen!.day;
}

/** A releaseStale cutoff after STARTED_AT: requests admitted with start() count as stale. */
const AFTER_START = "2025-01-15T11:00:00.000Z";

for (const dialect of testDialects()) {
  const migrations = dialect === "sqlite" ? sqliteMigrations : postgresMigrations;
  const allVersions = migrations.map((m) => m.version);

  Deno.test(`[${dialect}] migrate() twice is idempotent and records each migration once`, () =>
    withStores(dialect, 1, async ([store], url) => {
      await store.migrate();
      await store.migrate();
      assert.deepEqual(await appliedVersions(dialect, url), allVersions);
      const key = await store.createKey(newKey());
      assert.equal((await store.getKey(key.id))?.name, key.name);
    }, { migrate: false }));

  Deno.test(`[${dialect}] two concurrent migrate() calls on a fresh database both succeed`, () =>
    withStores(dialect, 2, async ([a, b], url) => {
      await Promise.all([a.migrate(), b.migrate()]);
      assert.deepEqual(await appliedVersions(dialect, url), allVersions);
      const key = await a.createKey(newKey());
      assert.equal((await b.getKey(key.id))?.id, key.id);
    }, { migrate: false }));

  Deno.test(`[${dialect}] created keys can be listed, got by id and found by hash`, () =>
    withStore(dialect, async (store) => {
      const input = newKey({
        expires_at: "2026-06-30T12:00:00.000Z",
        daily_request_limit: 5,
        monthly_token_limit: 1_000_000,
      });
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
        daily_request_limit: 5,
        monthly_request_limit: null,
        daily_token_limit: null,
        monthly_token_limit: 1_000_000,
      });
      assert.equal("key_hash" in created, false);
      const second = await store.createKey(newKey());
      assert.deepEqual((await store.listKeys()).map((k) => k.id), [created.id, second.id]);
      assert.deepEqual(await store.getKey(created.id), created);
      assert.deepEqual(await store.findKeyByHash(input.key_hash), created);
      assert.equal(await store.findKeyByHash("no-such-hash"), null);
      assert.equal(await store.getKey(created.id + 1000), null);
    }));

  Deno.test(`[${dialect}] updateKey changes only given fields and null means unlimited`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ daily_request_limit: 5, daily_token_limit: 50 }));
      assert.deepEqual(await store.updateKey(key.id, {}), key);

      const renamed = await store.updateKey(key.id, { name: "renamed", monthly_request_limit: 9 });
      assert.deepEqual(renamed, { ...key, name: "renamed", monthly_request_limit: 9 });

      const unlimited = await store.updateKey(key.id, { daily_request_limit: null });
      assert.deepEqual(unlimited, { ...renamed, daily_request_limit: null });

      const expiring = await store.updateKey(key.id, {
        active: false,
        expires_at: "2025-03-01T00:00:00.000Z",
      });
      assert.equal(expiring?.active, false);
      assert.equal(expiring?.expires_at, "2025-03-01T00:00:00.000Z");
      assert.equal(expiring?.daily_token_limit, 50);

      const cleared = await store.updateKey(key.id, { expires_at: null, active: true });
      assert.deepEqual(cleared, unlimited);
      assert.deepEqual(await store.getKey(key.id), cleared);
      assert.equal(await store.updateKey(key.id + 1000, { name: "x" }), null);
    }));

  Deno.test(`[${dialect}] deleteKey removes the key with its usage and reports absence`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey());
      const other = await store.createKey(newKey());
      assert.ok((await store.admit(start(key.id), decideReal))?.decision.ok);
      assert.ok((await store.admit(start(other.id), decideReal))?.decision.ok);
      assert.equal(await store.deleteKey(key.id), true);
      assert.equal(await store.getKey(key.id), null);
      const usage = await store.usageByKey(JAN_15);
      assert.equal(usage.has(key.id), false);
      assert.equal(usage.get(other.id)?.today.requests, 1);
      assert.equal(await store.deleteKey(key.id), false);
      assert.equal(await store.admit(start(key.id), decideReal), null);
    }));

  Deno.test(`[${dialect}] seedSettings keeps stored values and updateSettings patches`, () =>
    withStore(dialect, async (store) => {
      const empty = { ollama_url: "", default_model: "", public_url: "" };
      assert.deepEqual(await store.getSettings(), empty, "every setting has its default");
      await store.seedSettings({ ollama_url: "http://a:11434", default_model: "llama3" });
      await store.seedSettings({ ollama_url: "http://b:11434", default_model: "qwen" });
      assert.deepEqual(await store.getSettings(), {
        ...empty,
        ollama_url: "http://a:11434",
        default_model: "llama3",
      });
      const updated = await store.updateSettings({
        default_model: "mistral",
        public_url: "https://llm.example.com",
      });
      assert.deepEqual(updated, {
        ollama_url: "http://a:11434",
        default_model: "mistral",
        public_url: "https://llm.example.com",
      });
      assert.deepEqual(await store.getSettings(), updated);
    }));

  Deno.test(
    `[${dialect}] admit takes a request unit and holds the reservation until settle releases it`,
    () =>
      withStore(dialect, async (store) => {
        const key = await store.createKey(newKey({ daily_token_limit: 1000 }));
        const { seen, decide } = recordingDecide();

        const first = await store.admit(start(key.id), decide);
        assert.ok(first?.decision.ok && first.requestId !== null);
        assert.equal(first.decision.reservation, 110); // 10 prompt + 100 output cap
        assert.deepEqual(seen[0], {
          day: { requests: 0, tokens: 0, reserved: 0 },
          month: { requests: 0, tokens: 0, reserved: 0 },
        });
        assert.equal((await store.getKey(key.id))?.last_used_at, STARTED_AT);

        const second = await store.admit(start(key.id), decide);
        assert.ok(second?.decision.ok && second.requestId !== null);
        assert.notEqual(second.requestId, first.requestId);
        assert.deepEqual(seen[1], {
          day: { requests: 1, tokens: 0, reserved: 110 },
          month: { requests: 1, tokens: 0, reserved: 110 },
        });

        await store.settle({
          requestId: first.requestId,
          keyId: key.id,
          day: JAN_15.day,
          reservation: 110,
          charged: true,
          promptTokens: 12,
          completionTokens: 30,
          estimated: false,
          status: 200,
          durationMs: 850,
        });
        await store.admit(start(key.id), decide);
        assert.deepEqual(seen[2], {
          day: { requests: 2, tokens: 42, reserved: 110 },
          month: { requests: 2, tokens: 42, reserved: 110 },
        });

        const usage = (await store.usageByKey(JAN_15)).get(key.id);
        assert.deepEqual(usage?.today, {
          requests: 3,
          prompt_tokens: 12,
          completion_tokens: 30,
          tokens: 42,
        });
      }),
  );

  Deno.test(`[${dialect}] an uncharged settlement gives the request unit back`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ daily_request_limit: 1 }));
      const admitted = await store.admit(start(key.id), decideReal);
      assert.ok(admitted?.decision.ok && admitted.requestId !== null);
      const refused = await store.admit(start(key.id), decideReal);
      assert.equal(refused?.decision.ok, false);
      assert.equal(refused?.requestId, null);

      await store.settle({
        requestId: admitted.requestId,
        keyId: key.id,
        day: JAN_15.day,
        reservation: admitted.decision.reservation,
        charged: false,
        promptTokens: 10,
        completionTokens: 0,
        estimated: true,
        status: 502,
        durationMs: 20,
      });
      const usage = (await store.usageByKey(JAN_15)).get(key.id);
      assert.deepEqual(usage?.today, {
        requests: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        tokens: 0,
      });
      assert.equal((await store.admit(start(key.id), decideReal))?.decision.ok, true);
    }));

  Deno.test(
    `[${dialect}] a settle arriving after releaseStale charges the real tokens once and releases nothing twice`,
    () =>
      withStores(dialect, 1, async ([store], url) => {
        const key = await store.createKey(newKey({ daily_token_limit: 1000 }));
        const admitted = await store.admit(start(key.id), decideReal);
        assert.ok(admitted?.decision.ok && admitted.requestId !== null);
        assert.equal(admitted.decision.reservation, 110);
        // The request is still streaming when the reaper takes it for abandoned.
        assert.equal(await store.releaseStale(AFTER_START), 1);
        assert.deepEqual(await dayUsage(store, key.id), { requests: 1, tokens: 0, reserved: 0 });

        await store.settle(settlement(admitted.requestId, key.id));
        assert.deepEqual(await dayUsage(store, key.id), { requests: 1, tokens: 42, reserved: 0 });
        assert.deepEqual((await store.usageByKey(JAN_15)).get(key.id)?.today, {
          requests: 1,
          prompt_tokens: 12,
          completion_tokens: 30,
          tokens: 42,
        });
        assert.deepEqual(await ledgerRow(dialect, url, admitted.requestId), {
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

  Deno.test(
    `[${dialect}] an uncharged settle arriving after releaseStale keeps the request unit charged`,
    () =>
      withStore(dialect, async (store) => {
        const key = await store.createKey(newKey({ daily_token_limit: 1000 }));
        const admitted = await store.admit(start(key.id), decideReal);
        assert.ok(admitted?.decision.ok && admitted.requestId !== null);
        assert.equal(await store.releaseStale(AFTER_START), 1);

        await store.settle(
          settlement(admitted.requestId, key.id, {
            charged: false,
            completionTokens: 0,
            estimated: true,
            status: 502,
          }),
        );
        assert.deepEqual(await dayUsage(store, key.id), { requests: 1, tokens: 0, reserved: 0 });
        assert.deepEqual(await store.audit(), []);
      }),
  );

  Deno.test(`[${dialect}] a second settle of the same request changes nothing`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ daily_token_limit: 1000 }));
      const settleRepeatedly = async (requestId: number) => {
        await store.settle(settlement(requestId, key.id));
        await store.settle(settlement(requestId, key.id));
        await store.settle(settlement(requestId, key.id, { charged: false }));
      };
      const onTime = await store.admit(start(key.id), decideReal);
      assert.ok(onTime?.requestId);
      await settleRepeatedly(onTime.requestId);
      assert.deepEqual(await dayUsage(store, key.id), { requests: 1, tokens: 42, reserved: 0 });

      const late = await store.admit(start(key.id), decideReal);
      assert.ok(late?.requestId);
      assert.equal(await store.releaseStale(AFTER_START), 1);
      await settleRepeatedly(late.requestId);
      assert.deepEqual(await dayUsage(store, key.id), { requests: 2, tokens: 84, reserved: 0 });
      assert.equal(await store.releaseStale(AFTER_START), 0);
      assert.deepEqual(await store.audit(), []);
    }));

  Deno.test(`[${dialect}] a refused admission changes no counters and no last_used_at`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ daily_request_limit: 0 }));
      const refused = await store.admit(start(key.id), decideReal);
      assert.deepEqual(refused && { ok: refused.decision.ok, id: refused.requestId }, {
        ok: false,
        id: null,
      });
      assert.equal((await store.usageByKey(JAN_15)).has(key.id), false);
      assert.equal((await store.getKey(key.id))?.last_used_at, null);
      assert.equal(await store.admit(start(key.id + 1000), decideReal), null);
    }));

  Deno.test(`[${dialect}] month sums cover every day of the month and no other month`, () =>
    withStore(dialect, async (store) => {
      const key = await store.createKey(newKey({ monthly_request_limit: 3 }));
      const { seen, decide } = recordingDecide();
      assert.equal((await store.admit(start(key.id, DEC_31), decide))?.decision.ok, true);
      assert.equal((await store.admit(start(key.id, JAN_14), decide))?.decision.ok, true);
      assert.equal((await store.admit(start(key.id, JAN_14), decide))?.decision.ok, true);
      assert.equal((await store.admit(start(key.id, JAN_15), decide))?.decision.ok, true);
      assert.deepEqual(seen.at(-1), {
        day: { requests: 0, tokens: 0, reserved: 0 },
        month: { requests: 2, tokens: 0, reserved: 0 },
      });
      const refused = await store.admit(start(key.id, JAN_15), decide);
      assert.equal(refused?.decision.ok === false && refused.decision.limit, "monthly_requests");

      const usage = (await store.usageByKey(JAN_15)).get(key.id);
      assert.equal(usage?.today.requests, 1);
      assert.equal(usage?.month.requests, 3);
      const december = (await store.usageByKey(DEC_31)).get(key.id);
      assert.equal(december?.month.requests, 1);
      const later = await store.usageByKey({
        day: "2025-03-01",
        monthStart: "2025-03-01",
        monthEnd: "2025-04-01",
      });
      assert.equal(later.size, 0);
    }));

  Deno.test(`[${dialect}] usageByKey reports each key separately`, () =>
    withStore(dialect, async (store) => {
      const a = await store.createKey(newKey());
      const b = await store.createKey(newKey());
      const idle = await store.createKey(newKey());
      await store.admit(start(a.id), decideReal);
      await store.admit(start(a.id, JAN_14), decideReal);
      await store.admit(start(b.id), decideReal);
      const usage = await store.usageByKey(JAN_15);
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
          Array.from({ length: 100 }, () => store.admit(start(key.id), decideReal)),
        );
        assert.equal(results.filter((r) => r?.decision.ok).length, 20);
        const ids = results.filter((r) => r?.decision.ok).map((r) => r?.requestId);
        assert.equal(new Set(ids).size, 20);
        assert.equal((await store.usageByKey(JAN_15)).get(key.id)?.today.requests, 20);
      }),
  );

  Deno.test(
    `[${dialect}] concurrent admissions through two store instances still admit exactly 20`,
    () =>
      withStores(dialect, 2, async ([a, b]) => {
        const key = await a.createKey(newKey({ daily_request_limit: 20 }));
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).admit(start(key.id), decideReal)),
        );
        assert.equal(results.filter((r) => r?.decision.ok).length, 20);
        assert.equal((await b.usageByKey(JAN_15)).get(key.id)?.today.requests, 20);
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
