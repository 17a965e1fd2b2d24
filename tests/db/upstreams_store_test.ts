import { rawQuery } from "../support/raw_query.ts";
/**
 * Contract tests of the Store's Ollama boxes (the `upstreams` table), on every dialect, and of
 * the leases on boxes that PostgreSQL shares between gateway processes.
 * @module
 */
import assert from "node:assert/strict";
import { createTestDatabase, type Dialect, testDialects } from "../support/databases.ts";
import { openSqliteStore } from "../../db/sqlite.ts";
import { openPostgresStore } from "../../db/postgres.ts";
import type { Store } from "../../core/store.ts";
import { type NewUpstream, sealToken, seedRows } from "../../core/upstreams/records.ts";
import { open } from "../../core/secret_box.ts";
import { ASK, JAN_15, newKey, NOW_MS, STARTED_AT } from "../support/admissions.ts";

const AT = "2026-06-15T10:00:00.000Z";
const LATER = "2026-06-15T11:00:00.000Z";

function openRaw(dialect: Dialect, url: string): Promise<Store> {
  return dialect === "sqlite"
    ? Promise.resolve(openSqliteStore(url))
    : openPostgresStore(url, { poolSize: 10, connectTimeoutSeconds: 5 });
}

async function withStores(
  dialect: Dialect,
  count: number,
  fn: (stores: Store[], url: string) => Promise<void>,
): Promise<void> {
  const db = await createTestDatabase(dialect);
  const stores: Store[] = [];
  try {
    for (let i = 0; i < count; i++) stores.push(await openRaw(dialect, db.url));
    await stores[0].migrate();
    await fn(stores, db.url);
  } finally {
    for (const s of stores) await s.close();
    await db.drop();
  }
}

const query = rawQuery;

const box = (over: Partial<NewUpstream> = {}): NewUpstream => ({
  name: "gpu1",
  url: "http://gpu1:11434",
  token_sealed: null,
  enabled: true,
  max_in_flight: 1,
  created_at: AT,
  updated_at: AT,
  ...over,
});

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] upstreams: create, list, get, patch only given fields, delete`, () =>
    withStores(dialect, 1, async ([store]) => {
      assert.deepEqual(await store.listUpstreams(), []);
      const a = await store.createUpstream(box());
      const b = await store.createUpstream(
        box({ name: "gpu2", url: "http://gpu2:11434", max_in_flight: null, enabled: false }),
      );
      assert.deepEqual(a, { id: a.id, ...box() });
      assert.equal(b.max_in_flight, null);
      assert.equal(b.enabled, false);
      assert.deepEqual((await store.listUpstreams()).map((u) => u.name), ["gpu1", "gpu2"]);
      assert.deepEqual(await store.getUpstream(b.id), b);
      assert.equal(await store.getUpstream(b.id + 100), null);

      const sealed = sealToken("s3cret", "material");
      const patched = await store.updateUpstream(a.id, {
        token_sealed: sealed,
        max_in_flight: 4,
        updated_at: LATER,
      });
      assert.deepEqual(patched, {
        ...a,
        token_sealed: sealed,
        max_in_flight: 4,
        updated_at: LATER,
      });
      // null is a value: no token, no limit; absent fields stay.
      const cleared = await store.updateUpstream(a.id, {
        token_sealed: null,
        max_in_flight: null,
        enabled: false,
        updated_at: LATER,
      });
      assert.deepEqual(cleared, {
        ...a,
        token_sealed: null,
        max_in_flight: null,
        enabled: false,
        updated_at: LATER,
      });
      const renamed = await store.updateUpstream(a.id, {
        name: "left",
        url: "http://left:1",
        enabled: true,
        updated_at: LATER,
      });
      assert.deepEqual([renamed?.name, renamed?.url, renamed?.enabled, renamed?.max_in_flight], [
        "left",
        "http://left:1",
        true,
        null,
      ]);
      assert.equal(await store.updateUpstream(999, { updated_at: LATER }), null);
      assert.equal(await store.deleteUpstream(a.id), true);
      assert.equal(await store.deleteUpstream(a.id), false);
      assert.deepEqual((await store.listUpstreams()).map((u) => u.id), [b.id]);
    }));

  Deno.test(`[${dialect}] upstreams: the token is stored sealed, never in plain text`, () =>
    withStores(dialect, 1, async ([store], url) => {
      const created = await store.createUpstream(
        box({ token_sealed: sealToken("plain-token-123", "material") }),
      );
      const [row] = await query(dialect, url, "SELECT token FROM upstreams WHERE id = ?", [
        created.id,
      ]);
      assert.doesNotMatch(String(row.token), /plain-token-123/);
      assert.equal(open(String(row.token), "material"), "plain-token-123");
      assert.equal(open(String(row.token), "other material"), null);
    }));

  Deno.test(`[${dialect}] upstreams: seeding happens once, even after every box is deleted`, () =>
    withStores(dialect, 2, async ([one, two]) => {
      const rows = seedRows("http://a:1, http://b:2/", AT);
      // Two gateways starting together: one seeds.
      const seeded = await Promise.all([one.seedUpstreams(rows), two.seedUpstreams(rows)]);
      assert.deepEqual(seeded.sort(), [false, true]);
      const listed = await one.listUpstreams();
      assert.deepEqual(listed.map((u) => [u.name, u.url, u.max_in_flight]), [
        ["a:1", "http://a:1", 1],
        ["b:2", "http://b:2", 1],
      ]);
      for (const u of listed) await one.deleteUpstream(u.id);
      assert.equal(await one.seedUpstreams(rows), false);
      assert.deepEqual(await one.listUpstreams(), []);
    }));

  Deno.test(`[${dialect}] upstreams: names are unique`, () =>
    withStores(dialect, 1, async ([store]) => {
      await store.createUpstream(box());
      await assert.rejects(() => store.createUpstream(box({ url: "http://other:1" })));
    }));

  Deno.test(`[${dialect}] a settlement records the box that answered in the request log`, () =>
    withStores(dialect, 1, async ([store], url) => {
      const key = await store.createKey(newKey());
      const ids: number[] = [];
      for (const upstream of ["gpu1:11434", null]) {
        const a = await store.admit(
          {
            keyId: key.id,
            memberId: null,
            windows: JAN_15,
            route: "/api/chat",
            model: "llama3",
            startedAt: STARTED_AT,
            instanceId: "gw",
          },
          ASK,
          NOW_MS,
        );
        assert.equal(a.kind, "admitted");
        const requestId = a.kind === "admitted" ? a.requestId : 0;
        ids.push(requestId);
        await store.settle({
          requestId,
          charge: {
            charged: true,
            status: 200,
            promptTokens: 1,
            completionTokens: 2,
            estimated: false,
          },
          durationMs: 5,
          upstream,
        });
      }
      const rows = await query(dialect, url, "SELECT id, upstream FROM request_log ORDER BY id");
      assert.deepEqual(rows.map((r) => [Number(r.id), r.upstream]), [
        [ids[0], "gpu1:11434"],
        [ids[1], null],
      ]);
    }));
}

if (testDialects().includes("postgres")) {
  Deno.test("[postgres] leases on a box: two stores together never exceed its limit", () =>
    withStores("postgres", 2, async ([one, two]) => {
      const u = await one.createUpstream(box({ max_in_flight: 3 }));
      const takes = await Promise.all(
        Array.from(
          { length: 40 },
          (_, i) => (i % 2 ? one : two).takeUpstreamLease!(u.id, `gw-${i % 2}`, 3),
        ),
      );
      const granted = takes.filter((t) => t !== null) as number[];
      assert.equal(granted.length, 3);
      assert.deepEqual(await one.upstreamLeaseCounts!(), new Map([[u.id, 3]]));
      await two.releaseUpstreamLease!(granted[0]);
      assert.deepEqual(await two.upstreamLeaseCounts!(), new Map([[u.id, 2]]));
      assert.notEqual(await two.takeUpstreamLease!(u.id, "gw-1", 3), null);
      assert.equal(await two.takeUpstreamLease!(u.id, "gw-1", 3), null);
      // No limit: always granted. A box that does not exist: never.
      assert.notEqual(await one.takeUpstreamLease!(u.id, "gw-0", null), null);
      assert.equal(await one.takeUpstreamLease!(u.id + 1000, "gw-0", null), null);
    }));

  Deno.test("[postgres] leases of a silent gateway are released; a deleted box takes its own", () =>
    withStores("postgres", 1, async ([store]) => {
      const u = await store.createUpstream(box({ max_in_flight: 2 }));
      const v = await store.createUpstream(box({ name: "gpu2", max_in_flight: 2 }));
      await store.heartbeat("alive", "2026-06-01T00:00:00.000Z");
      await store.heartbeat("dead", "2025-12-31T00:00:00.000Z");
      assert.notEqual(await store.takeUpstreamLease!(u.id, "alive", 2), null);
      assert.notEqual(await store.takeUpstreamLease!(u.id, "dead", 2), null);
      assert.notEqual(await store.takeUpstreamLease!(v.id, "dead", 2), null);
      await store.releaseStale({
        startedBefore: "2000-01-01T00:00:00.000Z",
        silentSince: "2026-01-01T00:00:00.000Z",
        minutesBefore: "1970-01-01T00:00:00.000Z",
      });
      assert.deepEqual(await store.upstreamLeaseCounts!(), new Map([[u.id, 1]]));
      await store.deleteUpstream(u.id);
      assert.deepEqual(await store.upstreamLeaseCounts!(), new Map());
    }));
}

Deno.test("[sqlite] a SQLite store has no shared leases: its gateway counts in memory", () =>
  withStores("sqlite", 1, ([store]) => {
    assert.equal(store.takeUpstreamLease, undefined);
    return Promise.resolve();
  }));
