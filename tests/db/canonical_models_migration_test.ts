/**
 * Migration 8 on every dialect: ledger rows and rollup rows recorded under a client's spelling
 * (`llama3`, `LLaMA3:latest`, `library/llama3`…, as before admission recorded canonicalModel's)
 * are rewritten to the canonical spelling, and the rollup rows that collide are summed into one,
 * every counter and histogram bucket, with nothing lost or counted twice: the totals stay, the
 * merged rows are the sums of the rows they replace, and the rollup audit stays clean.
 * @module
 */
import assert from "node:assert/strict";
import type { Dialect } from "../support/databases.ts";
import type { Store } from "../../core/store.ts";
import { requestWindows } from "../../core/windows.ts";
import { canonicalModel } from "../../core/model_names.ts";
import { ROLLUP_COLUMNS } from "../../core/analytics/rollup.ts";
import {
  OTHER_MODEL,
  REFUSAL_ROWS_PER_MINUTE,
  REFUSED_MODELS_PER_BUCKET,
} from "../../core/analytics/refusal_cap.ts";
import { POSTGRES_V8, SQLITE_V8 } from "../../db/migrations/v8_canonical_models.ts";
import { ASK, newKey } from "../support/admissions.ts";
import { rawQuery, rawScript } from "../support/raw_query.ts";
import { eachDialect } from "../support/store_per_dialect.ts";

const BERLIN = "Europe/Berlin";
const TABLES = {
  usage_15m: ["bucket", "key_id", "model", "route", "group_id", "member_id", "upstream"],
  usage_15m_all: ["bucket", "model", "route", "upstream"],
  usage_day: ["tz", "day", "key_id", "model", "route", "group_id", "member_id", "upstream"],
  usage_day_all: ["tz", "day", "model", "route", "upstream"],
} as const;

/** Spellings of one model as clients send them, and of others, with what each becomes. */
const SPELLINGS: Record<string, string> = {
  "llama3": "llama3:latest",
  "llama3:latest": "llama3:latest",
  "LLaMA3:Latest": "llama3:latest",
  " llama3\t": "llama3:latest",
  "library/llama3": "llama3:latest",
  "registry.ollama.ai/library/Llama3:latest@sha256:0123abcd": "llama3:latest",
  "qwen3:8b": "qwen3:8b",
  "Qwen3:8B": "qwen3:8b",
  "hf.co/Org/Model": "hf.co/org/model:latest",
  "myhost:5000/team/tool": "myhost:5000/team/tool:latest",
  "myhost:5000/team/tool:v2": "myhost:5000/team/tool:v2",
};

type Row = Record<string, unknown>;

/** Admits (and settles, when admitted) a request of `keyId` for `model` at `at`. */
async function request(store: Store, keyId: number, model: string, at: string, n: number) {
  const instant = Temporal.Instant.from(at);
  const admission = await store.admit(
    {
      keyId,
      memberId: null,
      windows: requestWindows(instant, BERLIN),
      route: "/api/chat",
      // Straight to the store, as admission recorded it before migration 8: the client's text.
      model,
      startedAt: new Date(instant.epochMilliseconds).toISOString(),
      instanceId: "test",
    },
    ASK,
    instant.epochMilliseconds,
  );
  if (admission.kind !== "admitted") return;
  // Different values per request, so a sum that took one row twice or dropped one shows.
  await store.settle({
    requestId: admission.requestId,
    charge: {
      charged: n % 3 !== 0,
      promptTokens: 5 + n,
      completionTokens: 7 * n,
      estimated: n % 2 === 0,
      status: n % 4 === 0 ? 500 : 200,
    },
    durationMs: 10 * 4 ** (n % 6),
    ttfbMs: n % 5 === 0 ? null : 3 * 3 ** (n % 7),
    timings: { loadMs: n % 2 === 0 ? 1500 : 2, promptEvalMs: n, evalMs: 2 * n },
    upstream: n % 2 === 0 ? "gpu1" : null,
  });
}

/** Every row of a rollup table, its counters as numbers. */
async function rows(dialect: Dialect, url: string, table: string): Promise<Row[]> {
  return (await rawQuery(dialect, url, `SELECT * FROM ${table}`)).map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, ROLLUP_COLUMNS.includes(k) ? Number(v) : String(v)]),
    )
  );
}

/** `rows` summed per key of `dims`, the model as `name` makes it. */
function summed(rs: Row[], dims: readonly string[], name: (m: string) => string) {
  const out = new Map<string, Record<string, number>>();
  for (const r of rs) {
    const at = dims.map((d) => d === "model" ? name(String(r.model)) : String(r[d])).join("|");
    const sum = out.get(at) ?? Object.fromEntries(ROLLUP_COLUMNS.map((c) => [c, 0]));
    for (const c of ROLLUP_COLUMNS) sum[c] += Number(r[c]);
    out.set(at, sum);
  }
  return out;
}

/** The spelling migration 8 gives a recorded model. */
const migrated = (m: string) => m === OTHER_MODEL ? m : canonicalModel(m);

eachDialect(
  "migration 8: old spellings become canonical, colliding rollup rows are summed exactly",
  async (store, url, dialect) => {
    const open = await store.createKey(newKey());
    const refusing = await store.createKey(newKey({ daily_request_limit: 0 }));
    let n = 0;
    // Two 15-minute buckets of one Berlin day, every spelling in each: rows collide in each
    // bucket and again in the day.
    for (const at of ["2026-06-15T10:01:00Z", "2026-06-15T10:20:00Z"]) {
      for (const model of Object.keys(SPELLINGS)) {
        for (let i = 0; i < 2; i++) await request(store, open.id, model, at, ++n);
        await request(store, refusing.id, model, at, ++n);
      }
    }
    // Past the refused-model cap: more names than it keeps, the rest are counted as (other).
    for (let i = 0; i <= REFUSED_MODELS_PER_BUCKET; i++) {
      await request(store, refusing.id, `Extra${i}`, "2026-06-15T10:40:00Z", ++n);
    }
    // Past the refusal log cap in one minute, under two spellings: refusals_unlogged merges too.
    for (let i = 0; i < REFUSAL_ROWS_PER_MINUTE + 5; i++) {
      await request(
        store,
        refusing.id,
        i % 2 === 0 ? "LLAMA3" : "llama3",
        "2026-06-15T10:50:00Z",
        0,
      );
    }
    const m = await store.maintainAnalytics({
      nowMs: Date.parse("2026-06-16T12:00:00Z"),
      timeZone: BERLIN,
      requestLogRetentionDays: 90,
      rollup15mRetentionDays: 35,
    });
    assert.ok(m.compactedDays >= 1);
    assert.deepEqual(await store.auditRollups(), []);

    const before: Record<string, Row[]> = {};
    for (const table of Object.keys(TABLES)) before[table] = await rows(dialect, url, table);
    const ledgerBefore = await rawQuery(
      dialect,
      url,
      "SELECT id, model FROM request_log ORDER BY id",
    );
    assert.ok(ledgerBefore.some((r) => r.model === OTHER_MODEL), "the cap named (other)");
    assert.ok(before.usage_15m.some((r) => Number(r.refusals_unlogged) > 0), "unlogged refusals");

    // The store migrated already (the tables were empty then): migration 8 once more, now.
    await rawScript(dialect, url, dialect === "sqlite" ? SQLITE_V8 : POSTGRES_V8);

    const ledgerAfter = await rawQuery(
      dialect,
      url,
      "SELECT id, model FROM request_log ORDER BY id",
    );
    assert.deepEqual(
      ledgerAfter.map((r) => [String(r.id), String(r.model)]),
      ledgerBefore.map((r) => [String(r.id), migrated(String(r.model))]),
    );
    for (const r of ledgerBefore) {
      const spelled = String(r.model);
      if (spelled in SPELLINGS) assert.equal(migrated(spelled), SPELLINGS[spelled], spelled);
    }
    for (const [table, dims] of Object.entries(TABLES)) {
      const after = await rows(dialect, url, table);
      const expected = summed(before[table], dims, migrated);
      assert.ok(expected.size < before[table].length, `${table} had colliding rows`);
      assert.equal(after.length, expected.size, `${table}: one row per canonical key`);
      assert.deepEqual(summed(after, dims, (x) => x), expected, table);
      const models = new Set(after.map((r) => String(r.model)));
      assert.ok(models.has("llama3:latest") && !models.has("llama3"), table);
      assert.ok(models.has(OTHER_MODEL), `${table} keeps (other)`);
    }
    assert.deepEqual(await store.auditRollups(), []);
    assert.deepEqual(await store.audit(), []);

    // One series per model in the usage the admin pages and /api/usage read.
    const usage = await store.usage({
      fromMs: Date.parse("2026-06-14T00:00:00Z"),
      toMs: Date.parse("2026-06-17T00:00:00Z"),
      timeZone: BERLIN,
      groupBy: ["model"],
    });
    const llama = usage.filter((u) => String(u.model).startsWith("llama3"));
    assert.deepEqual(llama.map((u) => u.model), ["llama3:latest"]);
    assert.equal(llama[0].requests, 2 * 6 * 3 + REFUSAL_ROWS_PER_MINUTE + 5);
  },
);

eachDialect(
  "migration 8 changes nothing when every recorded spelling is canonical already",
  async (store, url, dialect) => {
    const key = await store.createKey(newKey());
    await request(store, key.id, "llama3:latest", "2026-06-15T10:01:00Z", 1);
    await request(store, key.id, "qwen3:8b", "2026-06-15T10:01:00Z", 2);
    const before = await rows(dialect, url, "usage_15m");
    await rawScript(dialect, url, dialect === "sqlite" ? SQLITE_V8 : POSTGRES_V8);
    const key15 = (r: Row) => `${r.model}|${r.requests}|${r.prompt_tokens}`;
    assert.deepEqual(
      (await rows(dialect, url, "usage_15m")).map(key15).sort(),
      before.map(key15).sort(),
    );
    assert.deepEqual(await store.auditRollups(), []);
  },
);
