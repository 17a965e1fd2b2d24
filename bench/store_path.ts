/**
 * The store's hot path in process: admit + settle pairs per second and each pair's p50/p99, one
 * pair at a time and 32 in flight, on SQLite (a file in a temp dir) and PostgreSQL. No HTTP, no
 * gateway: what the database path costs on its own (issue 18, round three in bench/README.md).
 *
 *   deno run -A bench/store_path.ts [--pairs=3000] [--pg-pairs=400] [--rounds=3] [--pg]
 *     [--only=sqlite] [--checkpoint-ms=25] [--history-days=27]
 *
 * --history-days=N: every key first gets a pair on each of the month's first N days and the runs
 * happen on the day after them, so each admission reads a month of counters as it does late in
 * a month in production (without it every key is new: one day row).
 *
 * Run it on two trees (`git archive main | tar -x -C /tmp/base`) alternately to compare.
 * @module
 */
import { parseArgs } from "node:util";
import { openSqliteStore } from "../db/sqlite.ts";
import { openPostgresStore } from "../db/postgres.ts";
import { policyWith } from "../core/api_keys.ts";
import { OPEN_POLICY } from "../core/model.ts";
import type { Store, WindowKeys } from "../core/store.ts";
import type { Ask } from "../core/admission.ts";
import { createBenchDatabase, dropBenchDatabase } from "./pg.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    pairs: { type: "string", default: "3000" },
    // PostgreSQL commits wait for the server's WAL flush: far fewer pairs take as long.
    "pg-pairs": { type: "string", default: "400" },
    rounds: { type: "string", default: "3" },
    pg: { type: "boolean", default: false },
    only: { type: "string" },
    // The checkpoint worker's interval (ms), to try others than the default.
    "checkpoint-ms": { type: "string" },
    "history-days": { type: "string", default: "0" },
  },
});
const PAIRS = Number(args.pairs);
const PG_PAIRS = Number(args["pg-pairs"]);
const ROUNDS = Number(args.rounds);
const PG_BASE = Deno.env.get("BENCH_PG_URL") ?? "postgres://postgres@127.0.0.1:5432";
const HISTORY_DAYS = Math.min(27, Number(args["history-days"]));
const thisMonth = new Date();
/** Noon on day `d` (1-based) of this month, UTC. */
const dayOfMonth = (d: number) =>
  new Date(Date.UTC(thisMonth.getUTCFullYear(), thisMonth.getUTCMonth(), d, 12));

const ASK: Ask = {
  promptTokens: 10,
  generates: true,
  clientMaxTokens: null,
  maxReservedTokens: 100,
};

/** Today's window keys, as the gateway computes them for UTC. */
function windows(now: Date): WindowKeys {
  const iso = now.toISOString();
  const month = iso.slice(0, 7);
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return {
    minute: iso.slice(0, 16),
    day: iso.slice(0, 10),
    monthStart: `${month}-01`,
    monthEnd: next.toISOString().slice(0, 10),
  };
}

/** One admit and its settle; the pair's wall time in ms. */
async function pair(
  store: Store,
  keyId: number,
  now = HISTORY_DAYS ? dayOfMonth(HISTORY_DAYS + 1) : new Date(),
): Promise<number> {
  const t0 = performance.now();
  const a = await store.admit(
    {
      keyId,
      windows: windows(now),
      route: "/api/chat",
      model: "bench",
      startedAt: now.toISOString(),
      instanceId: "bench",
      memberId: null,
    },
    ASK,
    now.getTime(),
  );
  if (a.kind !== "admitted") throw new Error(`not admitted: ${a.kind}`);
  await store.settle({
    requestId: a.requestId,
    charge: {
      charged: true,
      promptTokens: 10,
      completionTokens: 10,
      estimated: false,
      status: 200,
    },
    durationMs: 1,
  });
  return performance.now() - t0;
}

/** One run's pairs per second and its pairs' p50 and p99 (ms). */
type Result = { perSecond: number; p50: number; p99: number };

/** `pairs` pairs, `inflight` at a time over `keys` keys. */
async function run(
  store: Store,
  keys: number[],
  pairs: number,
  inflight: number,
): Promise<Result> {
  const times: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < pairs) {
      const i = next++;
      times.push(await pair(store, keys[i % keys.length]));
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  return { perSecond: pairs / seconds, p50: q(0.5), p99: q(0.99) };
}

/** Opens a fresh store of `dialect`, with `keyCount` keys; returns it and how to dispose of it. */
async function fresh(dialect: "sqlite" | "pg", keyCount: number) {
  let store: Store;
  let dispose: () => Promise<void>;
  if (dialect === "sqlite") {
    const dir = Deno.makeTempDirSync({ prefix: "llmq_store_path_" });
    store = openSqliteStore(`sqlite:///${dir}/bench.db`, {
      checkpointIntervalMs: args["checkpoint-ms"] ? Number(args["checkpoint-ms"]) : undefined,
    });
    dispose = async () => {
      await store.close();
      Deno.removeSync(dir, { recursive: true });
    };
  } else {
    const db = await createBenchDatabase(PG_BASE);
    store = await openPostgresStore(db.url, { poolSize: 10 });
    dispose = async () => {
      await store.close();
      await dropBenchDatabase(PG_BASE, db.name);
    };
  }
  await store.migrate();
  const keys: number[] = [];
  for (let i = 0; i < keyCount; i++) {
    const k = await store.createKey({
      name: `bench ${i}`,
      prefix: `lq_b${i}`,
      key_hash: `bench-${i}-${crypto.randomUUID()}`,
      expires_at: null,
      created_at: "2025-01-01T00:00:00.000Z",
      policy: policyWith(OPEN_POLICY, { daily_request_limit: 1e9, monthly_token_limit: 1e12 }),
    });
    keys.push(k.id);
  }
  for (let d = 1; d <= HISTORY_DAYS; d++) {
    await Promise.all(keys.map((k) => pair(store, k, dayOfMonth(d))));
  }
  return { store, keys, dispose };
}

const dialects = (["sqlite", "pg"] as const).filter((d) =>
  (d === "sqlite" || args.pg) && (!args.only || args.only === d)
);
console.log(
  `store_path: ${PAIRS} pairs per run (PostgreSQL ${PG_PAIRS}), ${ROUNDS} rounds, ${HISTORY_DAYS} days of history per key, load average ${
    Deno.loadavg().map((n) => n.toFixed(2)).join(" ")
  }`,
);
for (const dialect of dialects) {
  for (const inflight of [1, 32]) {
    const results: Result[] = [];
    const pairs = dialect === "sqlite" ? PAIRS : PG_PAIRS;
    for (let r = 0; r < ROUNDS; r++) {
      const { store, keys, dispose } = await fresh(dialect, 100);
      try {
        await run(store, keys, Math.min(500, Math.ceil(pairs / 4)), inflight); // warm-up
        results.push(await run(store, keys, pairs, inflight));
      } finally {
        await dispose();
      }
    }
    const fmt = (f: (r: Result) => number, d: number) =>
      results.map((r) => f(r).toFixed(d)).join(" / ");
    console.log(
      `${dialect} inflight=${inflight}: pairs/s ${fmt((r) => r.perSecond, 0)}; p50 ms ${
        fmt((r) => r.p50, 2)
      }; p99 ms ${fmt((r) => r.p99, 2)}`,
    );
  }
}
console.log(`load average at the end ${Deno.loadavg().map((n) => n.toFixed(2)).join(" ")}`);
