/**
 * What one admission and one settlement write on SQLite, one at a time (the one-connection case,
 * where group commit has no company): WAL frames (pages) per transaction, which b-tree each
 * page belongs to, and the CPU of an admit + settle pair in process (user, system, and the main
 * thread's exact on-CPU time from the scheduler).
 *
 *   deno run -A bench/wal_frames.ts [--pairs=3000] [--inflight=1] [--sql="DDL after the migrations"]
 *
 * No checkpoint worker (SQLite's autocheckpoint instead); a side connection counts the WAL's frames with
 * `PRAGMA wal_checkpoint(PASSIVE)` around each step (it copies every frame, so the next write
 * transaction starts the WAL over and its frames are the WAL's first ones).
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import process from "node:process";
import { parseArgs } from "node:util";
import { openSqliteStore } from "../db/sqlite.ts";
import { policyWith } from "../core/api_keys.ts";
import { OPEN_POLICY } from "../core/model.ts";
import type { WindowKeys } from "../core/store.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    pairs: { type: "string", default: "3000" },
    sql: { type: "string" },
    inflight: { type: "string", default: "1" },
  },
});

const dir = Deno.makeTempDirSync({ prefix: "llmq_wal_frames_" });
const path = `${dir}/bench.db`;
// No checkpoint worker: its checkpoints would race the side connection's frame counts.
const store = openSqliteStore(`sqlite:///${path}`, { checkpointWorker: false });
await store.migrate();
if (args.sql) {
  const d = new DatabaseSync(path);
  d.exec(args.sql);
  d.close();
}
const keys: number[] = [];
for (let i = 0; i < 100; i++) {
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

function windows(now: Date): WindowKeys {
  const iso = now.toISOString();
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return {
    minute: iso.slice(0, 16),
    day: iso.slice(0, 10),
    monthStart: `${iso.slice(0, 7)}-01`,
    monthEnd: next.toISOString().slice(0, 10),
  };
}

const admit = async (keyId: number) => {
  const now = new Date();
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
    { promptTokens: 10, generates: true, clientMaxTokens: null, maxReservedTokens: 100 },
    now.getTime(),
  );
  if (a.kind !== "admitted") throw new Error(`not admitted: ${a.kind}`);
  return a.requestId;
};
const settle = (requestId: number) =>
  store.settle({
    requestId,
    charge: {
      charged: true,
      promptTokens: 10,
      completionTokens: 10,
      estimated: false,
      status: 200,
    },
    durationMs: 1,
  });

const side = new DatabaseSync(path);
const checkpoint = side.prepare("PRAGMA wal_checkpoint(PASSIVE)");
/** Frames in the WAL now; afterwards all are copied, so the next transaction restarts it. */
const frames = () => Number((checkpoint.all()[0] as { log: number }).log);
/** Page numbers of the WAL's first `n` frames (from the frame headers). */
function walPages(n: number): number[] {
  const b = Deno.readFileSync(`${path}-wal`);
  const view = new DataView(b.buffer);
  const pageSize = view.getUint32(8);
  const out: number[] = [];
  for (let off = 32; out.length < n && off + 24 <= b.length; off += 24 + pageSize) {
    out.push(view.getUint32(off));
  }
  return out;
}
let owner = new Map<number, string>();
const owners = () => {
  try {
    const rows = side.prepare("SELECT name, pageno FROM dbstat").all() as Array<
      { name: string; pageno: number }
    >;
    owner = new Map(rows.map((r) => [Number(r.pageno), r.name]));
  } catch { /* no dbstat in this build: page numbers only */ }
};

for (let i = 0; i < 300; i++) await settle(await admit(keys[i % 100]));
owners();
frames();
const id = await admit(keys[7]);
const admitFrames = frames();
const admitPages = walPages(admitFrames);
await settle(id);
const settleFrames = frames();
const settlePages = walPages(settleFrames);
const name = (p: number) => owner.get(p) ?? `page ${p}`;
console.log(`admit: ${admitFrames} frames: ${admitPages.map(name).join(", ")}`);
console.log(`settle: ${settleFrames} frames: ${settlePages.map(name).join(", ")}`);
side.close();

const n = Number(args.pairs);
const onCpu = () =>
  Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]) / 1000;
const c0 = process.cpuUsage();
const s0 = onCpu();
const t0 = performance.now();
let next = 0;
await Promise.all(Array.from({ length: Number(args.inflight) }, async () => {
  while (next < n) {
    const i = next++;
    await settle(await admit(keys[i % 100]));
  }
}));
const wall = (performance.now() - t0) * 1000 / n;
const s1 = onCpu();
const cpu = process.cpuUsage(c0);
console.log(
  `${n} pairs, ${args.inflight} in flight: ${wall.toFixed(1)} us wall/pair; process user ${
    (cpu.user / n).toFixed(1)
  } + system ${(cpu.system / n).toFixed(1)} us/pair; main thread on CPU ${
    ((s1 - s0) / n).toFixed(1)
  } us/pair; load average ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`,
);
await store.close();
Deno.removeSync(dir, { recursive: true });
