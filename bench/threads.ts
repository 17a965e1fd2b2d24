/**
 * Where a gateway process's CPU goes, per thread, at one connection and at 64: `deno run -A
 * bench/threads.ts [--dir=TREE] [--seconds=6] [--connections=1,64] [--strace] [--mock-core=0]`. Starts the mock
 * and one gateway (TREE's main.ts, SQLite, 1,000 keys) on the server core, runs wrk on the load
 * core, and prints CPU µs per request of every thread of the gateway (main thread, tokio
 * workers, the checkpoint worker, V8's helpers), and with `--strace` the system calls per
 * request of a second run of each load under `strace -c -f` (slower: read counts, not times).
 * @module
 */
import { chatLoad } from "./chat_load.ts";
import { startGateway, startMock } from "./servers.ts";

const opt = (name: string, d: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? d;
const seconds = Number(opt("seconds", "6"));
const loads = opt("connections", "1,64").split(",").map(Number);
const tree = opt("dir", ".");
const withStrace = Deno.args.includes("--strace");
/** The mock's core: 0 shares the gateway's (as bench/main.ts does), 1 the load's. */
const mockCore = opt("mock-core", "0");

const TICK_US = 1e6 / 100;

/** utime and stime per thread (by "name/tid" and "name/tid/sys"), in µs. */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/stat`);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(`${comm}/${e.name}`, Number(f[11]) * TICK_US);
      out.set(`${comm}/${e.name}/sys`, Number(f[12]) * TICK_US);
      // The scheduler's exact on-CPU time (ns) and this thread's context switches.
      const sched = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/schedstat`).split(" ");
      out.set(`${comm}/${e.name}/oncpu`, Number(sched[0]) / 1000);
      const st = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/status`);
      const sw = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? 0);
      out.set(
        `${comm}/${e.name}/switches`,
        sw("voluntary_ctxt_switches") + sw("nonvoluntary_ctxt_switches"),
      );
    } catch { /* the thread ended */ }
  }
  return out;
}

/** Per-thread deltas, threads of one name summed unless they are the main thread. */
function delta(a: Map<string, number>, b: Map<string, number>, pid: number) {
  const by = new Map<string, number>();
  for (const [k, v] of b) {
    const [comm, tid, kind] = k.split("/");
    const name = (Number(tid) === pid ? `main(${comm})` : comm) + ` ${kind ?? "user"}`;
    by.set(name, (by.get(name) ?? 0) + v - (a.get(k) ?? 0));
  }
  return by;
}

const dir = await Deno.makeTempDir({ prefix: "llmq-threads-" });
const mock = await startMock(dir, mockCore);
const main = new URL(`file://${Deno.realPathSync(tree)}/main.ts`).pathname;
const gw = await startGateway(dir, "gw", `sqlite:///${dir}/gw.db`, mock.url, "0", null, main);
try {
  const wrk = await chatLoad(dir, gw, 1000, "t");
  const pid = gw.proc.pid;
  await wrk(64, 3);
  await wrk(1, 2);
  for (const c of loads) {
    const t0 = threadCpu(pid);
    const w = await wrk(c, seconds);
    const d = delta(t0, threadCpu(pid), pid);
    const total = [...d].filter(([k]) => / (user|sys)$/.test(k)).reduce((s, [, v]) => s + v, 0);
    console.log(
      `c${c}: ${(w.requests / (w.duration_us / 1e6)).toFixed(0)} req/s, ${
        (total / w.requests).toFixed(1)
      } us CPU/req, p50 ${(w.p50_us / 1000).toFixed(3)} ms`,
    );
    for (const [name, us] of [...d].sort((x, y) => y[1] - x[1])) {
      const unit = name.endsWith("switches") ? "/req" : " us/req";
      if (us > 0) console.log(`  ${name.padEnd(28)} ${(us / w.requests).toFixed(2)}${unit}`);
    }
  }
  // The checkpoint worker's thread, traced on its own (its calls depend on time, not requests).
  const tids = [...Deno.readDirSync(`/proc/${pid}/task`)].map((e) => e.name);
  const workerTid = tids.find((t) =>
    Deno.readTextFileSync(`/proc/${pid}/task/${t}/comm`).trim() === "worker-1"
  );
  const traced = [[`main`, String(pid)], ...(workerTid ? [["worker-1", workerTid]] : [])];
  if (withStrace) {
    for (const [c, [what, tid]] of loads.flatMap((c) => traced.map((t) => [c, t] as const))) {
      const out = `${dir}/strace_c${c}_${what}.txt`;
      const st = new Deno.Command("strace", {
        args: ["-c", "-o", out, "-p", tid],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await new Promise((r) => setTimeout(r, 500));
      const w = await wrk(c, seconds);
      st.kill("SIGINT");
      await st.status;
      console.log(
        `\nstrace ${what} thread, c${c}: ${w.requests} requests (${
          (w.requests / (w.duration_us / 1e6)).toFixed(0)
        } req/s under strace); calls per request:`,
      );
      const text = await Deno.readTextFile(out);
      for (const line of text.split("\n")) {
        const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line);
        if (m && Number(m[1]) / w.requests >= 0.01) {
          console.log(`  ${m[2].padEnd(18)} ${(Number(m[1]) / w.requests).toFixed(2)}`);
        }
      }
    }
  }
} finally {
  await gw.proc.stop().catch(() => {});
  await mock.proc.stop().catch(() => {});
}
