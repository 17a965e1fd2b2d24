/**
 * Contract tests of the analytics part of the Store, on every dialect: rollups follow
 * core/analytics/rollup.ts exactly (SQLite applies it in TS, PostgreSQL's settlement batch in
 * SQL), refusals are counted and their logged rows capped, local periods are exact across DST
 * and month ends and after an APP_TZ change, keyset pages return every row once, and retention
 * changes no total and no quota.
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { testDialects } from "../support/databases.ts";
import { MAINTENANCE_LOCK } from "../../db/postgres.ts";
import type { Settlement, Store } from "../../core/store.ts";
import { requestWindows } from "../../core/windows.ts";
import {
  ABANDONED,
  addInto,
  AUDIT_COLUMNS,
  endingOf,
  type LedgerFacts,
  ROLLUP_COLUMNS,
  rollupDelta,
  rollupOf,
} from "../../core/analytics/rollup.ts";
import {
  OTHER_MODEL,
  REFUSAL_ROWS_PER_MINUTE,
  REFUSED_MODELS_PER_BUCKET,
} from "../../core/analytics/refusal_cap.ts";
import type { RequestRow, UsageQuery, UsageRow } from "../../core/analytics/types.ts";
import { ASK, newKey } from "../support/admissions.ts";
import { eachDialect, withStore } from "../support/store_per_dialect.ts";
import { rawQuery } from "../support/raw_query.ts";
import { MAX_USAGE_ROWS, UsageTooLargeError } from "../../core/analytics/usage.ts";
import { AnalyticsInputError } from "../../core/analytics/range.ts";

const BERLIN = "Europe/Berlin";

interface Req {
  at: string;
  model?: string;
  route?: string;
  status?: number;
  charged?: boolean;
  prompt?: number;
  completion?: number;
  estimated?: boolean;
  durationMs?: number;
  ttfbMs?: number | null;
  timings?: Settlement["timings"];
  tz?: string;
  /** Leave it pending. */
  pending?: boolean;
}

/** Admits a request of `keyId` at an instant and settles it as told; returns its ledger id. */
async function request(store: Store, keyId: number, r: Req): Promise<number> {
  const instant = Temporal.Instant.from(r.at);
  const admission = await store.admit(
    {
      keyId,
      memberId: null,
      windows: requestWindows(instant, r.tz ?? BERLIN),
      route: r.route ?? "/api/chat",
      model: r.model ?? "llama3",
      startedAt: new Date(instant.epochMilliseconds).toISOString(),
      instanceId: "test",
    },
    ASK,
    instant.epochMilliseconds,
  );
  assert.equal(admission.kind, "admitted");
  const id = (admission as { requestId: number }).requestId;
  if (!r.pending) await store.settle(settlementOf(id, r));
  return id;
}

function settlementOf(id: number, r: Req): Settlement {
  return {
    requestId: id,
    charge: {
      charged: r.charged ?? true,
      promptTokens: r.prompt ?? 5,
      completionTokens: r.completion ?? 7,
      estimated: r.estimated ?? false,
      status: r.status ?? 200,
    },
    durationMs: r.durationMs ?? 300,
    ttfbMs: r.ttfbMs === undefined ? 40 : r.ttfbMs,
    timings: r.timings ?? null,
  };
}

/** What core's rule says a settled request adds. */
function factsOf(r: Req): LedgerFacts {
  const charged = r.charged ?? true;
  return {
    ending: endingOf(r.status ?? 200),
    charged,
    refusedBy: null,
    promptTokens: charged ? r.prompt ?? 5 : 0,
    completionTokens: charged ? r.completion ?? 7 : 0,
    estimated: r.estimated ?? false,
    durationMs: r.durationMs ?? 300,
    ttfbMs: r.ttfbMs === undefined ? 40 : r.ttfbMs,
    loadMs: r.timings?.loadMs ?? null,
    promptEvalMs: r.timings?.promptEvalMs ?? null,
    evalMs: r.timings?.evalMs ?? null,
  };
}

/** A usage row's counters in ROLLUP_COLUMNS order (histograms as dh*, th*). */
function columnsOf(row: UsageRow): number[] {
  const r = row as unknown as Record<string, number>;
  return ROLLUP_COLUMNS.map((c) => {
    // Usage does not read the audit's counters (refused_logged); the rollup audit checks them.
    if ((AUDIT_COLUMNS as readonly string[]).includes(c)) return 0;
    const m = /^(dh|th)(\d+)$/.exec(c);
    if (m) return (m[1] === "dh" ? row.duration_hist : row.ttfb_hist)[Number(m[2])];
    return r[c];
  });
}

const total = (rows: UsageRow[], f: keyof UsageRow) =>
  rows.reduce((n, r) => n + Number(r[f] ?? 0), 0);

const range = (from: string, to: string, groupBy: UsageQuery["groupBy"], tz = BERLIN) => ({
  fromMs: Temporal.Instant.from(from).epochMilliseconds,
  toMs: Temporal.Instant.from(to).epochMilliseconds,
  timeZone: tz,
  groupBy,
});

async function clean(store: Store) {
  assert.deepEqual(await store.audit(), []);
  assert.deepEqual(await store.auditRollups(), []);
}

eachDialect(
  "rollup contract: every ending adds exactly what core/analytics/rollup.ts says",
  async (store) => {
    const key = await store.createKey(newKey());
    const cases: Req[] = [
      { at: "2026-06-15T10:00:00Z" },
      { at: "2026-06-15T10:01:00Z", status: 404, charged: false, durationMs: 4 },
      { at: "2026-06-15T10:02:00Z", status: 500, prompt: 0, completion: 0, ttfbMs: null },
      { at: "2026-06-15T10:03:00Z", status: 499, estimated: true, durationMs: 70_000 },
      { at: "2026-06-15T10:04:00Z", status: 503, charged: false, durationMs: 400_000 },
      {
        at: "2026-06-15T10:05:00Z",
        timings: { loadMs: 2500, promptEvalMs: 120, evalMs: 900 },
        durationMs: 3600,
        ttfbMs: 2700,
      },
      { at: "2026-06-15T10:06:00Z", timings: { loadMs: null, promptEvalMs: 5, evalMs: null } },
      // Histogram bounds are inclusive: 10 ms is in the first bucket, 300 s in the last bounded one.
      { at: "2026-06-15T10:06:30Z", durationMs: 10, ttfbMs: 25 },
      { at: "2026-06-15T10:06:40Z", durationMs: 300_000, ttfbMs: 11 },
      { at: "2026-06-15T10:06:50Z", durationMs: 300_001, ttfbMs: 0 },
    ];
    const expected = new Array(ROLLUP_COLUMNS.length).fill(0);
    for (const r of cases) {
      await request(store, key.id, r);
      addInto(expected, rollupOf(factsOf(r)));
    }
    // An abandoned request, then its late settlement: abandoned first, then how it ended.
    const late = await request(store, key.id, { at: "2026-06-15T10:07:00Z", pending: true });
    await store.releaseStale({
      startedBefore: "2026-06-15T10:08:00Z",
      silentSince: "2000-01-01T00:00:00Z",
      minutesBefore: "2000-01-01T00:00:00Z",
    });
    const [abandoned] = await store.usage(
      range("2026-06-15T10:00:00Z", "2026-06-15T10:15:00Z", []),
    );
    assert.equal(abandoned.abandoned, 1);
    const lateReq: Req = { at: "2026-06-15T10:07:00Z", prompt: 11, completion: 13 };
    await store.settle(settlementOf(late, lateReq));
    addInto(expected, rollupOf(ABANDONED));
    addInto(expected, rollupDelta(ABANDONED, { ...factsOf(lateReq), charged: true }));

    const [row] = await store.usage(range("2026-06-15T10:00:00Z", "2026-06-15T10:15:00Z", []));
    assert.deepEqual(columnsOf(row), expected);
    assert.equal(row.abandoned, 0);
    assert.equal(row.requests, cases.length + 1);
    assert.equal(row.cold_loads, 1);
    assert.equal(row.errors, row.client_errors + row.upstream_errors + row.abandoned);
    await clean(store);
  },
);

eachDialect(
  "a refusal is counted in the rollups and logged with the limit that refused it",
  async (store) => {
    const key = await store.createKey(newKey({ daily_request_limit: 1 }));
    await request(store, key.id, { at: "2026-06-15T10:00:00Z" });
    const instant = Temporal.Instant.from("2026-06-15T10:01:00Z");
    const refused = await store.admit(
      {
        keyId: key.id,
        memberId: null,
        windows: requestWindows(instant, BERLIN),
        route: "/api/chat",
        model: "llama3",
        startedAt: instant.toString(),
        instanceId: "test",
      },
      ASK,
      instant.epochMilliseconds,
    );
    assert.equal(refused.kind, "refused");
    const rows = await store.usage(range("2026-06-15T00:00:00Z", "2026-06-16T00:00:00Z", []));
    assert.equal(rows[0].requests, 2);
    assert.equal(rows[0].refused, 1);
    assert.equal(rows[0].refused_requests, 1);
    assert.equal(rows[0].charged, 1);
    const log = await store.requestLog({
      fromMs: Date.parse("2026-06-15T00:00:00Z"),
      toMs: Date.parse("2026-06-16T00:00:00Z"),
      status: "refused",
      limit: 10,
    });
    assert.equal(log.length, 1);
    assert.equal(log[0].refused_by, "daily_requests");
    assert.equal(log[0].http_status, 429);
    assert.equal(log[0].status, "refused");
    // The quota counters did not move: one request today.
    const usage = await store.usageByOwner("key", requestWindows(instant, BERLIN));
    assert.equal(usage.get(key.id)!.today.requests, 1);
    await clean(store);
  },
);

eachDialect(
  "a provisional token refusal (asked again with the exact count) is not recorded",
  async (store) => {
    const key = await store.createKey(newKey({ daily_token_limit: 50 }));
    const instant = Temporal.Instant.from("2026-06-15T10:00:00Z");
    const start = {
      keyId: key.id,
      memberId: null,
      windows: requestWindows(instant, BERLIN),
      route: "/api/chat",
      model: "llama3",
      startedAt: instant.toString(),
      instanceId: "test",
    };
    const big = { ...ASK, promptTokens: 80 };
    assert.equal(
      (await store.admit({ ...start, provisional: true }, big, instant.epochMilliseconds)).kind,
      "refused",
    );
    const day = range("2026-06-15T00:00:00Z", "2026-06-16T00:00:00Z", []);
    assert.deepEqual(await store.usage(day), []);
    assert.equal(
      (await store.admit({ ...start, provisional: false }, big, instant.epochMilliseconds)).kind,
      "refused",
    );
    const [row] = await store.usage(day);
    assert.equal(row.refused_tokens, 1);
    await clean(store);
  },
);

eachDialect(
  "attacker: a key hammering refusals cannot grow the request log beyond the cap",
  async (store) => {
    const key = await store.createKey(newKey({ daily_request_limit: 0 }));
    const instant = Temporal.Instant.from("2026-06-15T10:00:30Z");
    const start = {
      keyId: key.id,
      memberId: null,
      windows: requestWindows(instant, BERLIN),
      route: "/api/chat",
      model: "llama3",
      startedAt: instant.toString(),
      instanceId: "test",
    };
    const n = REFUSAL_ROWS_PER_MINUTE * 5;
    const outcomes = await Promise.all(
      Array.from({ length: n }, () => store.admit(start, ASK, instant.epochMilliseconds)),
    );
    assert.ok(outcomes.every((o) => o.kind === "refused"));
    const log = await store.requestLog({
      fromMs: Date.parse("2026-06-15T00:00:00Z"),
      toMs: Date.parse("2026-06-16T00:00:00Z"),
      limit: 1000,
    });
    assert.equal(log.length, REFUSAL_ROWS_PER_MINUTE);
    const [row] = await store.usage(range("2026-06-15T00:00:00Z", "2026-06-16T00:00:00Z", []));
    assert.equal(row.refused, n, "every refusal is counted");
    // The audit allows the rollup more refusals than the ledger holds, nothing else.
    await clean(store);
  },
);

eachDialect(
  "attacker: random model names on a refused key add at most the capped rollup rows, exact totals",
  async (store) => {
    const key = await store.createKey(newKey({ daily_request_limit: 0 }));
    const instant = Temporal.Instant.from("2026-06-15T10:00:30Z");
    const n = REFUSED_MODELS_PER_BUCKET * 4;
    for (let i = 0; i < n; i++) {
      const start = {
        keyId: key.id,
        memberId: null,
        windows: requestWindows(instant, BERLIN),
        route: "/api/chat",
        model: `random-${i}`,
        startedAt: instant.toString(),
        instanceId: "test",
      };
      assert.equal((await store.admit(start, ASK, instant.epochMilliseconds)).kind, "refused");
    }
    const rows = await store.usage(
      range("2026-06-15T00:00:00Z", "2026-06-16T00:00:00Z", ["model"]),
    );
    assert.equal(rows.length, REFUSED_MODELS_PER_BUCKET + 1, "the capped names plus (other)");
    const other = rows.find((r) => r.model === OTHER_MODEL);
    assert.equal(other?.refused, n - REFUSED_MODELS_PER_BUCKET);
    assert.equal(rows.reduce((sum, r) => sum + r.refused, 0), n, "every refusal is counted");
    await clean(store);
  },
);

/** A request every 15 minutes of a local day (in UTC instants), starting at local midnight. */
function everyBucketOf(day: string, tz = BERLIN): string[] {
  const start = Temporal.PlainDate.from(day).toZonedDateTime(tz);
  const end = start.add({ days: 1 }).startOfDay();
  const out: string[] = [];
  for (
    let t = start.toInstant();
    Temporal.Instant.compare(t, end.toInstant()) < 0;
    t = t.add({ minutes: 15 })
  ) {
    out.push(t.toString());
  }
  return out;
}

for (const [day, hours] of [["2026-03-29", 23], ["2026-10-25", 25]] as const) {
  eachDialect(
    `15-minute buckets across the Berlin DST day ${day}: ${hours} local hours, exact day total`,
    async (store) => {
      const key = await store.createKey(newKey());
      const instants = everyBucketOf(day);
      assert.equal(instants.length, hours * 4);
      for (const at of instants) await request(store, key.id, { at });
      // Plus one request on each neighbouring day, which must stay out of this day.
      await request(store, key.id, {
        at: Temporal.Instant.from(instants[0]).subtract({ minutes: 1 }).toString(),
      });
      await request(store, key.id, {
        at: Temporal.Instant.from(instants.at(-1)!).add({ minutes: 16 }).toString(),
      });
      const from = Temporal.PlainDate.from(day).toZonedDateTime(BERLIN);
      const q = {
        fromMs: from.epochMilliseconds,
        toMs: from.add({ days: 1 }).startOfDay().epochMilliseconds,
        timeZone: BERLIN,
      };
      const byHour = await store.usage({ ...q, groupBy: ["hour"] });
      assert.equal(byHour.length, hours);
      assert.ok(byHour.every((r) => r.requests === 4), "four buckets in every local hour");
      if (hours === 25) {
        // The repeated hour is two periods, told apart by their offsets.
        assert.ok(byHour.some((r) => r.period === "2026-10-25T02:00:00+02:00"));
        assert.ok(byHour.some((r) => r.period === "2026-10-25T02:00:00+01:00"));
      } else {
        assert.ok(!byHour.some((r) => r.period?.startsWith("2026-03-29T02:")), "no skipped hour");
      }
      const by15 = await store.usage({ ...q, groupBy: ["15m"] });
      assert.equal(by15.length, hours * 4);
      const [byDay] = await store.usage({ ...q, groupBy: ["day"] });
      assert.equal(byDay.period, from.toString({ timeZoneName: "never" }));
      assert.equal(byDay.requests, hours * 4);
      // Day totals equal the quota day counter.
      const counters = await store.usageByOwner(
        "key",
        requestWindows(from.add({ hours: 12 }).toInstant(), BERLIN),
      );
      assert.equal(byDay.charged, counters.get(key.id)!.today.requests);
      assert.equal(byDay.prompt_tokens, counters.get(key.id)!.today.prompt_tokens);
      await clean(store);
    },
  );
}

eachDialect(
  "a month end: local months and days split where Berlin's do, not UTC's",
  async (store) => {
    const key = await store.createKey(newKey());
    // 23:50 on 31 January in Berlin is 22:50 UTC; 00:05 on 1 February is 23:05 UTC on 31 January.
    await request(store, key.id, { at: "2026-01-31T22:50:00Z", prompt: 1 });
    await request(store, key.id, { at: "2026-01-31T23:05:00Z", prompt: 2 });
    const q = range("2026-01-01T00:00:00+01:00", "2026-03-01T00:00:00+01:00", ["month"]);
    const months = await store.usage(q);
    assert.deepEqual(months.map((m) => [m.period, m.prompt_tokens]), [
      ["2026-01-01T00:00:00+01:00", 1],
      ["2026-02-01T00:00:00+01:00", 2],
    ]);
    const utc = await store.usage({
      ...range("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", ["month"]),
      timeZone: "UTC",
    });
    assert.deepEqual(utc.map((m) => [m.period, m.prompt_tokens]), [[
      "2026-01-01T00:00:00+00:00",
      3,
    ]]);
    await clean(store);
  },
);

eachDialect(
  "an APP_TZ change regroups local days, also after compaction in the old zone",
  async (store) => {
    const key = await store.createKey(newKey());
    // 03:00 UTC on 10 June is 05:00 in Berlin (10 June) and 23:00 in New York (9 June).
    await request(store, key.id, { at: "2026-06-10T03:00:00Z", prompt: 3 });
    await request(store, key.id, { at: "2026-06-10T15:00:00Z", prompt: 4 });
    const m = await store.maintainAnalytics({
      nowMs: Date.parse("2026-06-20T00:00:00Z"),
      timeZone: BERLIN,
      requestLogRetentionDays: 90,
      rollup15mRetentionDays: 35,
    });
    assert.equal(m.ran, true);
    assert.ok(m.compactedDays >= 1);
    const days = (tz: string) =>
      store.usage({
        fromMs: Date.parse("2026-06-08T00:00:00Z"),
        toMs: Date.parse("2026-06-12T00:00:00Z"),
        timeZone: tz,
        groupBy: ["day"],
      });
    const berlin = await days(BERLIN);
    assert.deepEqual(berlin.map((d) => [d.period, d.prompt_tokens]), [[
      "2026-06-10T00:00:00+02:00",
      7,
    ]]);
    const ny = await days("America/New_York");
    assert.deepEqual(ny.map((d) => [d.period, d.prompt_tokens]), [
      ["2026-06-09T00:00:00-04:00", 3],
      ["2026-06-10T00:00:00-04:00", 4],
    ]);
    await clean(store);
  },
);

eachDialect(
  "keyset pagination returns every row exactly once while new rows arrive",
  async (store) => {
    const key = await store.createKey(newKey());
    const ids = new Set<number>();
    // Several rows share an instant: the id breaks the tie.
    for (let i = 0; i < 23; i++) {
      ids.add(
        await request(store, key.id, {
          at: `2026-06-15T10:${String(Math.floor(i / 3)).padStart(2, "0")}:00Z`,
        }),
      );
    }
    const q = {
      fromMs: Date.parse("2026-06-15T00:00:00Z"),
      toMs: Date.parse("2026-06-16T00:00:00Z"),
      limit: 5,
    };
    const seen: RequestRow[] = [];
    let before: { startedAt: string; id: number } | undefined;
    for (let page = 0; page < 20; page++) {
      const rows = await store.requestLog({ ...q, before });
      seen.push(...rows);
      // New requests arrive between pages (newer than everything listed, and one in the past).
      await request(store, key.id, { at: "2026-06-15T11:00:00Z" });
      if (rows.length < q.limit) break;
      before = { startedAt: rows.at(-1)!.started_at, id: rows.at(-1)!.id };
    }
    const seenIds = seen.map((r) => r.id);
    assert.equal(new Set(seenIds).size, seenIds.length, "no row twice");
    assert.deepEqual(new Set(seenIds), ids, "every original row once, none of the newer ones");
    for (let i = 1; i < seen.length; i++) {
      const a = seen[i - 1], b = seen[i];
      assert.ok(a.started_at > b.started_at || (a.started_at === b.started_at && a.id > b.id));
    }
    await clean(store);
  },
);

eachDialect(
  "retention deletes old log rows and old buckets, never pending rows, totals or quotas",
  async (store) => {
    const key = await store.createKey(newKey());
    const old = ["2026-01-05T09:00:00Z", "2026-01-05T12:30:00Z", "2026-02-20T08:00:00Z"];
    for (const at of old) await request(store, key.id, { at, prompt: 10 });
    const pending = await request(store, key.id, { at: "2026-01-05T13:00:00Z", pending: true });
    for (const at of ["2026-06-01T10:00:00Z", "2026-06-14T10:00:00Z"]) {
      await request(store, key.id, { at, prompt: 1 });
    }
    const all = {
      fromMs: Date.parse("2025-12-01T00:00:00Z"),
      toMs: Date.parse("2026-07-01T00:00:00Z"),
      timeZone: BERLIN,
    };
    const before = {
      days: await store.usage({ ...all, groupBy: ["day"] }),
      months: await store.usage({ ...all, groupBy: ["month", "model"] }),
      total: await store.usage({ ...all, groupBy: [] }),
      quota: await store.usageByOwner(
        "key",
        requestWindows(Temporal.Instant.from("2026-01-05T12:00:00Z"), BERLIN),
      ),
    };
    const nowMs = Date.parse("2026-06-15T10:00:00Z");
    const m = await store.maintainAnalytics({
      nowMs,
      timeZone: BERLIN,
      requestLogRetentionDays: 90,
      rollup15mRetentionDays: 35,
      batchRows: 1,
    });
    assert.equal(m.ran, true);
    assert.equal(m.deletedRequests, old.length, "the old settled rows, in batches of one");
    assert.ok(m.deletedBuckets >= old.length);
    const log = await store.requestLog({ fromMs: all.fromMs, toMs: all.toMs, limit: 100 });
    assert.deepEqual(log.map((r) => r.id).includes(pending), true, "a pending row stays");
    assert.equal(log.length, 3);
    assert.deepEqual(await store.usage({ ...all, groupBy: ["day"] }), before.days);
    assert.deepEqual(await store.usage({ ...all, groupBy: ["month", "model"] }), before.months);
    assert.deepEqual(await store.usage({ ...all, groupBy: [] }), before.total);
    assert.deepEqual(
      await store.usageByOwner(
        "key",
        requestWindows(Temporal.Instant.from("2026-01-05T12:00:00Z"), BERLIN),
      ),
      before.quota,
    );
    // Run again: nothing more to delete, nothing changes.
    const again = await store.maintainAnalytics({
      nowMs,
      timeZone: BERLIN,
      requestLogRetentionDays: 90,
      rollup15mRetentionDays: 35,
    });
    assert.equal(again.deletedRequests, 0);
    assert.deepEqual(await store.usage({ ...all, groupBy: ["day"] }), before.days);
    await clean(store);
  },
);

eachDialect("usage groups by model, key and route, in the order asked", async (store) => {
  const a = await store.createKey(newKey());
  const b = await store.createKey(newKey());
  await request(store, a.id, { at: "2026-06-15T10:00:00Z", model: "qwen3" });
  await request(store, a.id, { at: "2026-06-15T10:20:00Z", model: "llama3" });
  await request(store, b.id, {
    at: "2026-06-15T11:00:00Z",
    model: "llama3",
    route: "/v1/chat/completions",
  });
  const q = range("2026-06-15T00:00:00Z", "2026-06-16T00:00:00Z", ["model", "key"]);
  const rows = await store.usage(q);
  assert.deepEqual(rows.map((r) => [r.model, r.key_id, r.requests]), [
    ["llama3", a.id, 1],
    ["llama3", b.id, 1],
    ["qwen3", a.id, 1],
  ]);
  const one = await store.usage({ ...q, groupBy: ["route"], keyId: b.id });
  assert.deepEqual(one.map((r) => [r.route, r.requests]), [["/v1/chat/completions", 1]]);
  assert.equal(
    total(await store.usage({ ...q, groupBy: ["hour"], model: "llama3" }), "requests"),
    2,
  );
  await clean(store);
});

eachDialect(
  "usage answers at most MAX_USAGE_ROWS rows: one more is refused, never cut short",
  async (store, url, dialect) => {
    // The rollup rows straight in (one bucket, a model each): 20,001 requests would take long.
    const bucket = Temporal.Instant.from("2026-06-15T10:00:00Z").epochMilliseconds;
    const models = async (from: number, to: number) =>
      await rawQuery(
        dialect,
        url,
        `INSERT INTO usage_15m_all (bucket, model, route, requests)
           WITH RECURSIVE n(i) AS (
             SELECT CAST(? AS INTEGER) UNION ALL SELECT i + 1 FROM n WHERE i < CAST(? AS INTEGER)
           )
           SELECT CAST(? AS BIGINT), 'm' || CAST(i AS TEXT), '/api/chat', 1 FROM n`,
        [from, to, bucket],
      );
    await models(1, MAX_USAGE_ROWS);
    const q = range("2026-06-15T00:00:00Z", "2026-06-16T00:00:00Z", ["model"]);
    assert.equal((await store.usage(q)).length, MAX_USAGE_ROWS);
    await models(MAX_USAGE_ROWS + 1, MAX_USAGE_ROWS + 1);
    await assert.rejects(() => store.usage(q), UsageTooLargeError);
    await assert.rejects(
      () => store.usage({ ...q, groupBy: ["day", "model"] }),
      UsageTooLargeError,
    );
    // Grouped coarser, the same rows are one.
    assert.equal((await store.usage({ ...q, groupBy: ["route"] })).length, 1);
  },
);

eachDialect(
  "usage reads only the counters asked for, from both rollups; an empty list is refused",
  async (store) => {
    const key = await store.createKey(newKey());
    // Day 10 June is compacted to the per-day rollup below, 15 June stays in 15-minute buckets.
    for (const at of ["2026-06-10T08:00:00Z", "2026-06-15T10:00:00Z"]) {
      await request(store, key.id, { at, durationMs: 30, ttfbMs: 12 });
      await request(store, key.id, { at, status: 500, prompt: 2, completion: 0 });
      await request(store, key.id, { at, status: 404, charged: false, durationMs: 700 });
    }
    const m = await store.maintainAnalytics({
      nowMs: Date.parse("2026-06-15T12:00:00Z"),
      timeZone: BERLIN,
      requestLogRetentionDays: 90,
      rollup15mRetentionDays: 35,
    });
    assert.ok(m.compactedDays >= 1);
    for (const groupBy of [["day", "model"], ["hour"], ["key"]] as UsageQuery["groupBy"][]) {
      const q = {
        ...range("2026-06-09T00:00:00Z", "2026-06-16T00:00:00Z", groupBy),
        keyId: key.id,
      };
      const all = await store.usage(q);
      assert.deepEqual(await store.usage({ ...q, counters: "all" }), all);
      assert.ok(all.length >= 1);
      for (
        const counters of [
          ["requests"],
          ["errors"],
          ["duration_hist", "ttfb_ms"],
          ["charged", "prompt_tokens", "completion_tokens"],
        ] as const
      ) {
        const some = await store.usage({ ...q, counters });
        assert.equal(some.length, all.length);
        some.forEach((row, i) => {
          const full = all[i] as unknown as Record<string, unknown>;
          const got = row as unknown as Record<string, unknown>;
          assert.equal(got.period, full.period);
          for (const c of counters) assert.deepEqual(got[c], full[c], `${c} of ${groupBy}`);
          // Counters not asked for are not read: zero (the full read has them non-zero).
          if (!(counters as readonly string[]).includes("requests")) assert.equal(row.requests, 0);
          if (!(counters as readonly string[]).includes("duration_hist")) {
            assert.deepEqual(row.duration_hist, new Array(row.duration_hist.length).fill(0));
          }
        });
      }
    }
    const empty = store.usage({
      ...range("2026-06-09T00:00:00Z", "2026-06-16T00:00:00Z", ["day"]),
      counters: [],
    });
    await assert.rejects(empty, AnalyticsInputError);
    await clean(store);
  },
);

Deno.test({
  name: "[postgres] analytics maintenance runs once per cluster: a held lock skips it",
  ignore: !testDialects().includes("postgres"),
  fn: () =>
    withStore("postgres", async (store, url) => {
      const other = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await other`SELECT pg_advisory_lock(${MAINTENANCE_LOCK})`;
        const m = await store.maintainAnalytics({
          nowMs: Date.now(),
          timeZone: BERLIN,
          requestLogRetentionDays: 90,
          rollup15mRetentionDays: 35,
        });
        assert.equal(m.ran, false);
        await other`SELECT pg_advisory_unlock(${MAINTENANCE_LOCK})`;
        const free = await store.maintainAnalytics({
          nowMs: Date.now(),
          timeZone: BERLIN,
          requestLogRetentionDays: 90,
          rollup15mRetentionDays: 35,
        });
        assert.equal(free.ran, true);
      } finally {
        await other.end({ timeout: 5 });
      }
    }),
});
