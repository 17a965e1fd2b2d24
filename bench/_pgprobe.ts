import postgres from "postgres";
import { openPostgresStore } from "../db/postgres.ts";
import { createBenchDatabase, dropBenchDatabase } from "./pg.ts";
import { usageQueries, compactedDaysQuery } from "../db/analytics_sql.ts";
import { localPeriods, usagePlan } from "../core/analytics/periods.ts";
const base = "postgres://postgres@127.0.0.1:5432";
const db = await createBenchDatabase(base);
try {
  const store = await openPostgresStore(db.url); await store.migrate();
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  const END = Date.parse("2026-06-15T00:00:00Z");
  await sql.unsafe(`INSERT INTO usage_15m_all (bucket, model, route, requests) SELECT ${END} - 7776000000::bigint + i*900000::bigint, 'model-'||j, r, 1 FROM generate_series(0, 8639) i, generate_series(0, 7) j, unnest(array['/api/chat','/v1']) r`);
  await sql.unsafe(`INSERT INTO usage_15m (bucket, key_id, model, route, requests) SELECT bucket, 1, model, route, requests FROM usage_15m_all`);
  await sql.unsafe("ANALYZE");
  await store.maintainAnalytics({ nowMs: END, timeZone: "Europe/Berlin", requestLogRetentionDays: 10000, rollup15mRetentionDays: 35 });
  await sql.unsafe("ANALYZE");
  for (const [name, q] of [
    ["hourly7", { fromMs: END - 7 * 86400000, toMs: END, timeZone: "Europe/Berlin", groupBy: ["hour"] }],
    ["day90", { fromMs: END - 89 * 86400000 - 7200000, toMs: END, timeZone: "Europe/Berlin", groupBy: ["day", "model"] }],
  ] as const) {
    const unit = q.groupBy[0] as "hour" | "day";
    const periods = localPeriods(q.fromMs, q.toMs, q.timeZone, unit);
    const cq = compactedDaysQuery("postgres", q as any);
    const compacted = unit === "hour" ? [] : (await sql.unsafe(cq.sql, cq.params as any)).map((r: any) => ({ day: r.day, fromMs: Number(r.from_ms), toMs: Number(r.to_ms) }));
    const plan = usagePlan(periods, unit, compacted);
    for (const u of usageQueries("postgres", q as any, plan)) {
      const rows = await sql.unsafe("EXPLAIN ANALYZE " + u.sql, u.params as any);
      console.log(name, rows.map((r: any) => r["QUERY PLAN"]).filter((l: string) => /Scan|Loop|Join|Execution|Aggregate/.test(l)).slice(0, 12).join("\n"));
    }
    const t = performance.now(); await store.usage(q as any); console.log(name, "store.usage", performance.now() - t);
  }
  await sql.end(); await store.close();
} finally { await dropBenchDatabase(base, db.name); }
