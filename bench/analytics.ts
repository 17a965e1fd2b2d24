/**
 * The analytics benchmark (issue 16): generates a request log over 90 days for 1,000 keys and
 * 20 models straight in the database (one SQL statement: a recursive CTE on SQLite,
 * generate_series on PostgreSQL), builds its rollups with the same SQL the migration's backfill
 * uses, compacts it, then measures what the Usage and Requests pages and exports do.
 *
 *   deno task bench:analytics                 # SQLite and PostgreSQL, 10 M rows
 *   deno task bench:analytics --rows=1000000  # smaller
 *   deno task bench:analytics --sqlite-only   # or --pg-only
 *
 * PostgreSQL at BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432); its own database,
 * dropped at the end. Prints a Markdown table per dialect.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { openSqliteStore } from "../db/sqlite.ts";
import { openPostgresStore } from "../db/postgres.ts";
import type { Store } from "../core/store.ts";
import { requestWindows } from "../core/windows.ts";
import { requestExportStream } from "../core/analytics/export_stream.ts";
import type { UsageQuery } from "../core/analytics/types.ts";
import {
  COUNTER_LIST,
  LEDGER_DIMENSION_SELECT,
  LEDGER_DIMENSIONS,
  LEDGER_SUMS,
  ledgerRows,
  ROLLUP_SUMS,
} from "../db/rollup_sql.ts";
import { createBenchDatabase, dropBenchDatabase } from "./pg.ts";

const arg = (name: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const ROWS = Number(arg("rows") ?? 10_000_000);
const KEYS = 1000;
const MODELS = 20;
const DAYS = 90;
const TZ = "Europe/Berlin";
const DAY_MS = 86_400_000;
/** The generated log ends here (a bucket edge); "now" for every query. */
const END_MS = Date.parse("2026-06-15T00:00:00Z");
const START_MS = END_MS - DAYS * DAY_MS;
const RUNS = Number(arg("runs") ?? 50);
const PG_BASE = Deno.env.get("BENCH_PG_URL") ?? "postgres://postgres@127.0.0.1:5432";

interface Result {
  dialect: string;
  rows: number;
  generateS: number;
  rollupS: number;
  compactS: number;
  oneKey90: Stat;
  allKeys90: Stat;
  allKeysHourly7: Stat;
  oneKey90Chart: Stat;
  allKeys90Chart: Stat;
  allKeysHourly7Chart: Stat;
  logPage: Stat;
  logPageDeep: Stat;
  exportRows: number;
  exportRowsPerS: number;
  exportRssMiB: [number, number];
  settleBefore: number;
  settleAfter: number;
  tableRows: Record<string, number>;
}

interface Stat {
  p50: number;
  p95: number;
}

function stat(samples: number[]): Stat {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: Math.round(at(0.5) * 10) / 10, p95: Math.round(at(0.95) * 10) / 10 };
}

async function timed(runs: number, fn: (i: number) => Promise<unknown>): Promise<Stat> {
  await fn(0); // warm: statement caches, pages
  const samples: number[] = [];
  for (let i = 1; i <= runs; i++) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  return stat(samples);
}

/** Deterministic columns of generated row n (shared by both dialects' SQL). */
function generatedColumns(t: string, n: string) {
  return {
    key: `1 + (${n} * 7919) % ${KEYS}`,
    // Not a function of the key: every key uses every model (the rollups' worst case).
    model: `'model-' || ((${n} * 31 + ${n} / 1009) % ${MODELS})`,
    route: `CASE ${n} % 3 WHEN 0 THEN '/v1/chat/completions' ELSE '/api/chat' END`,
    status:
      `CASE WHEN ${n} % 97 = 0 THEN 500 WHEN ${n} % 53 = 0 THEN 400 WHEN ${n} % 71 = 0 THEN 499 ELSE 200 END`,
    outcome:
      `CASE WHEN ${n} % 97 = 0 THEN 'upstream_error' WHEN ${n} % 53 = 0 THEN 'client_error' WHEN ${n} % 71 = 0 THEN 'disconnected' ELSE 'ok' END`,
    bucket: `(${t} / 900000) * 900000`,
  };
}

const INSERT_COLUMNS =
  "key_id, day, minute, started_at, route, model, state, charged, status, prompt_tokens, completion_tokens, estimated, duration_ms, ttfb_ms, load_ms, prompt_eval_ms, eval_ms, instance_id, bucket, outcome";

function generateSqlite(path: string): number {
  const db = new DatabaseSync(path);
  const t0 = performance.now();
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -400000");
  db.exec(`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ${KEYS})
    INSERT INTO api_keys (name, prefix, key_hash, created_at) SELECT 'bench ' || i, 'lq_' || i, 'h' || i, '2026-01-01T00:00:00.000Z' FROM k`);
  // Indexes are built once after the rows, not row by row.
  db.exec("DROP INDEX request_log_started; DROP INDEX request_log_key_started");
  const c = generatedColumns("t", "n");
  db.exec(`WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < ${ROWS - 1})
    INSERT INTO request_log (${INSERT_COLUMNS})
    SELECT ${c.key}, date(t / 1000, 'unixepoch'), strftime('%Y-%m-%dT%H:%M', t / 1000, 'unixepoch'),
           strftime('%Y-%m-%dT%H:%M:%fZ', t / 1000.0, 'unixepoch'), ${c.route}, ${c.model}, 'settled', 1,
           ${c.status}, 50 + n % 400, 20 + n % 300, 0, 200 + (n * 13) % 5000, 50 + n % 700,
           CASE WHEN n % 50 = 0 THEN 1500 ELSE 0 END, 30, 100 + n % 900, 'bench', ${c.bucket}, ${c.outcome}
      FROM (SELECT n, ${START_MS} + (n * ${DAYS * DAY_MS}) / ${ROWS} AS t FROM seq)`);
  db.exec(`CREATE INDEX request_log_started ON request_log (started_at, id);
    CREATE INDEX request_log_key_started ON request_log (key_id, started_at, id)`);
  db.close();
  return (performance.now() - t0) / 1000;
}

async function generatePostgres(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const t0 = performance.now();
  try {
    await sql.unsafe(`INSERT INTO api_keys (name, prefix, key_hash, created_at)
      SELECT 'bench ' || i, 'lq_' || i, 'h' || i, '2026-01-01T00:00:00Z' FROM generate_series(1, ${KEYS}) i`);
    await sql.unsafe("DROP INDEX request_log_started, request_log_key_started");
    const c = generatedColumns("t", "n");
    await sql.unsafe(`SET synchronous_commit = off`);
    await sql.unsafe(`INSERT INTO request_log (${INSERT_COLUMNS})
      SELECT ${c.key}, to_char(to_timestamp(t / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
             to_char(to_timestamp(t / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'),
             to_timestamp(t / 1000.0), ${c.route}, ${c.model}, 'settled', TRUE, ${c.status},
             50 + n % 400, 20 + n % 300, FALSE, 200 + (n * 13) % 5000, 50 + n % 700,
             CASE WHEN n % 50 = 0 THEN 1500 ELSE 0 END, 30, 100 + n % 900, 'bench', ${c.bucket}, ${c.outcome}
        FROM (SELECT n, ${START_MS}::bigint + (n * ${DAYS * DAY_MS}::bigint) / ${ROWS} AS t
                FROM generate_series(0::bigint, ${ROWS - 1}) n) g`);
    await sql.unsafe(`CREATE INDEX request_log_started ON request_log (started_at, id);
      CREATE INDEX request_log_key_started ON request_log (key_id, started_at, id)`);
  } finally {
    await sql.end();
  }
  return (performance.now() - t0) / 1000;
}

/** The rollups of the generated rows, with the migration's backfill SQL. */
function rollupSql(): string[] {
  return [
    `INSERT INTO usage_15m (bucket, key_id, model, route, group_id, member_id, upstream, ${COUNTER_LIST})
     SELECT ${LEDGER_DIMENSION_SELECT}, ${LEDGER_SUMS} FROM ${
      ledgerRows("TRUE")
    } GROUP BY ${LEDGER_DIMENSIONS}`,
    `INSERT INTO usage_15m_all (bucket, model, route, upstream, ${COUNTER_LIST})
     SELECT bucket, model, route, upstream, ${ROLLUP_SUMS} FROM usage_15m GROUP BY bucket, model, route, upstream`,
  ];
}

async function countRows(run: (sql: string) => Promise<number>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ["request_log", "usage_15m", "usage_15m_all", "usage_day", "usage_day_all"]) {
    out[t] = await run(`SELECT COUNT(*) AS n FROM ${t}`);
  }
  return out;
}

/** Settlements per second through the store (admit + settle, 32 in flight), 2,000 requests. */
async function settleRate(store: Store): Promise<number> {
  const keys: number[] = [];
  for (let i = 0; i < 100; i++) {
    keys.push(
      (await store.createKey({
        name: `s${i}`,
        prefix: `s${i}`,
        key_hash: `s${i}-${crypto.randomUUID()}`,
        created_at: "2026-01-01T00:00:00.000Z",
        expires_at: null,
        policy: {
          limits: [],
          models: null,
          max_output_tokens: null,
          max_num_ctx: null,
          idle_days: null,
        },
      })).id,
    );
  }
  const total = 2000;
  let next = 0;
  const one = async () => {
    while (next < total) {
      const i = next++;
      const now = Temporal.Instant.fromEpochMilliseconds(END_MS + 3_600_000 + i * 50);
      const a = await store.admit(
        {
          keyId: keys[i % keys.length],
          memberId: null,
          windows: requestWindows(now, TZ),
          route: "/api/chat",
          model: `model-${i % MODELS}`,
          startedAt: now.toString(),
          instanceId: "bench",
        },
        { promptTokens: 20, generates: true, clientMaxTokens: null, maxReservedTokens: 100 },
        now.epochMilliseconds,
      );
      if (a.kind !== "admitted") throw new Error(`not admitted: ${a.kind}`);
      await store.settle({
        requestId: a.requestId,
        charge: {
          charged: true,
          promptTokens: 20,
          completionTokens: 30,
          estimated: false,
          status: 200,
        },
        durationMs: 120,
        ttfbMs: 30,
        timings: { loadMs: 0, promptEvalMs: 10, evalMs: 90 },
      });
    }
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: 32 }, one));
  return Math.round(total / ((performance.now() - t) / 1000));
}

async function measure(
  dialect: string,
  store: Store,
  rows: number,
): Promise<Omit<Result, "generateS" | "rollupS" | "tableRows" | "settleBefore" | "settleAfter">> {
  const t0 = performance.now();
  await store.maintainAnalytics({
    nowMs: END_MS,
    timeZone: TZ,
    requestLogRetentionDays: 10_000,
    rollup15mRetentionDays: 35,
    batchRows: 5000,
  });
  const compactS = (performance.now() - t0) / 1000;
  const from90 =
    Temporal.Instant.fromEpochMilliseconds(END_MS - DAYS * DAY_MS).toZonedDateTimeISO(TZ)
      .startOfDay().epochMilliseconds;
  const key = (i: number) => 1 + (i * 37) % KEYS;
  const oneKey90 = await timed(
    RUNS,
    (i) =>
      store.usage({
        fromMs: from90,
        toMs: END_MS,
        timeZone: TZ,
        groupBy: ["day", "model"],
        keyId: key(i),
      }),
  );
  const allKeys90 = await timed(
    RUNS,
    () => store.usage({ fromMs: from90, toMs: END_MS, timeZone: TZ, groupBy: ["day", "model"] }),
  );
  const allKeysHourly7 = await timed(
    RUNS,
    () =>
      store.usage({ fromMs: END_MS - 7 * DAY_MS, toMs: END_MS, timeZone: TZ, groupBy: ["hour"] }),
  );
  // The same charts reading only what the Usage page's charts over time show
  // (UsageQuery.counters), as admin/usage_data.ts asks them.
  const chart: UsageQuery["counters"] = ["requests", "prompt_tokens", "completion_tokens"];
  const oneKey90Chart = await timed(
    RUNS,
    (i) =>
      store.usage({
        fromMs: from90,
        toMs: END_MS,
        timeZone: TZ,
        groupBy: ["day", "model"],
        keyId: key(i),
        counters: chart,
      }),
  );
  const allKeys90Chart = await timed(
    RUNS,
    () =>
      store.usage({
        fromMs: from90,
        toMs: END_MS,
        timeZone: TZ,
        groupBy: ["day", "model"],
        counters: chart,
      }),
  );
  const allKeysHourly7Chart = await timed(
    RUNS,
    () =>
      store.usage({
        fromMs: END_MS - 7 * DAY_MS,
        toMs: END_MS,
        timeZone: TZ,
        groupBy: ["hour"],
        counters: chart,
      }),
  );
  const logPage = await timed(
    RUNS,
    (i) =>
      store.requestLog({
        fromMs: from90,
        toMs: END_MS,
        keyId: key(i),
        model: `model-${i % MODELS}`,
        limit: 100,
      }),
  );
  // A page deep into a filtered list: keyset, so it costs what the first one costs.
  const logPageDeep = await timed(RUNS, (i) =>
    store.requestLog({
      fromMs: from90,
      toMs: END_MS,
      status: "error",
      before: {
        startedAt: new Date(END_MS - (30 + (i % 30)) * DAY_MS).toISOString(),
        id: Number.MAX_SAFE_INTEGER,
      },
      limit: 100,
    }));
  // Export of about 1 M rows (the newest ones), CSV, counting rows and watching memory.
  const exportFrom = rows <= 1_000_000
    ? START_MS
    : END_MS - Math.ceil((1_000_000 / rows) * DAYS * DAY_MS);
  const rssBefore = Deno.memoryUsage().rss;
  let rssMax = rssBefore;
  let lines = 0;
  const t1 = performance.now();
  const stream = requestExportStream(
    // The stream reads EXPORT_PAGE rows a page whatever the limit (the API passes MAX_PAGE).
    { fromMs: exportFrom, toMs: END_MS, limit: 1000 },
    "csv",
    TZ,
    (q) => store.requestLog(q),
  );
  for await (const chunk of stream) {
    for (const b of chunk) if (b === 10) lines++;
    rssMax = Math.max(rssMax, Deno.memoryUsage().rss);
  }
  const exportS = (performance.now() - t1) / 1000;
  const exportRows = lines - 1;
  return {
    dialect,
    rows,
    compactS: Math.round(compactS * 10) / 10,
    oneKey90,
    allKeys90,
    allKeysHourly7,
    oneKey90Chart,
    allKeys90Chart,
    allKeysHourly7Chart,
    logPage,
    logPageDeep,
    exportRows,
    exportRowsPerS: Math.round(exportRows / exportS),
    exportRssMiB: [Math.round(rssBefore / 2 ** 20), Math.round(rssMax / 2 ** 20)],
  };
}

async function runSqlite(): Promise<Result> {
  const dir = await Deno.makeTempDir({ prefix: "llmq_analytics_" });
  const path = `${dir}/bench.db`;
  try {
    const setup = openSqliteStore(`sqlite:///${path}`);
    await setup.migrate();
    await setup.close();
    const generateS = generateSqlite(path);
    const db = new DatabaseSync(path);
    const t = performance.now();
    for (const s of rollupSql()) db.exec(s);
    db.exec("ANALYZE");
    const rollupS = (performance.now() - t) / 1000;
    db.close();
    const store = openSqliteStore(`sqlite:///${path}`);
    const m = await measure("SQLite", store, ROWS);
    const raw = new DatabaseSync(path);
    const tableRows = await countRows((sql) => Promise.resolve(Number(raw.prepare(sql).get()!.n)));
    raw.close();
    await store.close();
    const rate = async (writeRollups: boolean) => {
      const s = openSqliteStore(`sqlite:///${dir}/settle_${writeRollups}.db`, { writeRollups });
      await s.migrate();
      try {
        return await settleRate(s);
      } finally {
        await s.close();
      }
    };
    const settleBefore = await rate(false);
    const settleAfter = await rate(true);
    return {
      ...m,
      generateS: round(generateS),
      rollupS: round(rollupS),
      tableRows,
      settleBefore,
      settleAfter,
    };
  } finally {
    if (Deno.args.includes("--keep")) console.log(`kept ${path}`);
    else await Deno.remove(dir, { recursive: true });
  }
}

async function runPostgres(): Promise<Result> {
  const db = await createBenchDatabase(PG_BASE);
  const extra: string[] = [];
  try {
    const setup = await openPostgresStore(db.url);
    await setup.migrate();
    await setup.close();
    const generateS = await generatePostgres(db.url);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const t = performance.now();
    for (const s of rollupSql()) await sql.unsafe(s);
    await sql.unsafe("VACUUM ANALYZE");
    const rollupS = (performance.now() - t) / 1000;
    const store = await openPostgresStore(db.url, { poolSize: 5 });
    const m = await measure("PostgreSQL", store, ROWS);
    await store.close();
    const tableRows = await countRows(async (q) => Number((await sql.unsafe(q))[0].n));
    await sql.end();
    const rate = async (writeRollups: boolean) => {
      const fresh = await createBenchDatabase(PG_BASE);
      extra.push(fresh.name);
      const s = await openPostgresStore(fresh.url, { poolSize: 5, writeRollups });
      await s.migrate();
      try {
        return await settleRate(s);
      } finally {
        await s.close();
      }
    };
    const settleBefore = await rate(false);
    const settleAfter = await rate(true);
    return {
      ...m,
      generateS: round(generateS),
      rollupS: round(rollupS),
      tableRows,
      settleBefore,
      settleAfter,
    };
  } finally {
    await dropBenchDatabase(PG_BASE, db.name);
    for (const name of extra) await dropBenchDatabase(PG_BASE, name);
  }
}

const round = (n: number) => Math.round(n * 10) / 10;

function report(r: Result): string {
  const ms = (s: Stat) => `${s.p50} / ${s.p95}`;
  const perSettle = (rate: number) => (1e6 / rate).toFixed(0);
  return [
    `### ${r.dialect}, ${
      r.rows.toLocaleString("en")
    } ledger rows, ${KEYS} keys, ${MODELS} models, ${DAYS} days`,
    "",
    "| measure | result |",
    "| --- | --- |",
    `| generate the ledger (one SQL statement, indexes after) | ${r.generateS} s |`,
    `| build its 15-minute rollups (the migration's backfill SQL) | ${r.rollupS} s |`,
    `| compact to local days + drop buckets older than 35 days | ${r.compactS} s |`,
    `| table rows | ${
      Object.entries(r.tableRows).map(([t, n]) => `${t} ${n.toLocaleString("en")}`).join(", ")
    } |`,
    `| 90-day chart, one key, by day and model, all counters: p50 / p95 | ${ms(r.oneKey90)} ms |`,
    `| 90-day chart, all keys, by day and model, all counters: p50 / p95 | ${ms(r.allKeys90)} ms |`,
    `| 7-day chart, all keys, hourly, all counters: p50 / p95 | ${ms(r.allKeysHourly7)} ms |`,
    `| the same three, the chart's 3 counters: p50 / p95 | ${ms(r.oneKey90Chart)} · ${
      ms(r.allKeys90Chart)
    } · ${ms(r.allKeysHourly7Chart)} ms |`,
    `| request-log page (key + model filter, 100 rows): p50 / p95 | ${ms(r.logPage)} ms |`,
    `| request-log page deep in a status filter (keyset): p50 / p95 | ${ms(r.logPageDeep)} ms |`,
    `| CSV export of ${r.exportRows.toLocaleString("en")} rows | ${
      r.exportRowsPerS.toLocaleString("en")
    } rows/s, RSS ${r.exportRssMiB[0]} → max ${r.exportRssMiB[1]} MiB |`,
    `| admit + settle, 32 in flight, without rollup writes | ${
      r.settleBefore.toLocaleString("en")
    }/s (${perSettle(r.settleBefore)} µs each) |`,
    `| admit + settle, 32 in flight, with rollup writes | ${
      r.settleAfter.toLocaleString("en")
    }/s (${perSettle(r.settleAfter)} µs each) |`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  const out: string[] = [];
  if (!Deno.args.includes("--pg-only")) {
    const r = await runSqlite();
    console.log(report(r));
    out.push(report(r));
  }
  if (!Deno.args.includes("--sqlite-only")) {
    const r = await runPostgres();
    console.log(report(r));
    out.push(report(r));
  }
  await Deno.writeTextFile(new URL("./results/analytics.md", import.meta.url), out.join("\n"));
}
