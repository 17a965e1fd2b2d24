/**
 * Instructions per request, one connection against many, under valgrind's callgrind (this VM
 * has no hardware counters for `perf stat`): `deno run -A bench/callgrind.ts [--dir=TREE]
 * [--seconds=20] [--connections=1,16] [--stream --chunks=50]`. Starts the mock and one gateway (TREE's main.ts, SQLite,
 * 20 keys) with the gateway under `valgrind --tool=callgrind --separate-threads=yes`, warms it
 * up, then per load zeroes the counters (`callgrind_control -z`), runs wrk, dumps them
 * (`callgrind_control -d`) and prints instructions (Ir) per request per thread. Callgrind runs
 * the gateway ~50× slower, so "many connections" means requests queued at the gateway, as under
 * load, at a few dozen requests a second.
 * @module
 */
import { chatLoad } from "./chat_load.ts";
import { startGateway, startMock } from "./servers.ts";

const opt = (name: string, d: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? d;
const seconds = Number(opt("seconds", "20"));
const loads = opt("connections", "1,16").split(",").map(Number);
const tree = opt("dir", ".");
/** `--stream --chunks=N`: streamed answers of N chunks instead of whole ones. */
const stream = Deno.args.includes("--stream");
const chunks = Number(opt("chunks", "10"));

const dir = await Deno.makeTempDirSync({ prefix: "llmq-callgrind-" });
const mock = await startMock(dir, "1");
const main = new URL(`file://${Deno.realPathSync(tree)}/main.ts`).pathname;
const gw = await startGateway(
  dir,
  "gw",
  `sqlite:///${dir}/gw.db`,
  mock.url,
  "0",
  null,
  main,
  [],
  [
    "valgrind",
    "--tool=callgrind",
    "--smc-check=all-non-file",
    "--separate-threads=yes",
    `--callgrind-out-file=${dir}/cg.out`,
  ],
  600_000,
);

/** callgrind_control on the gateway's process. */
async function control(flag: string): Promise<void> {
  const out = await new Deno.Command("callgrind_control", {
    args: [flag, String(gw.proc.pid)],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

/** Ir per thread file of the last dump (files cg.out.<n>-<thread>). */
function lastDump(): Map<string, number> {
  const byThread = new Map<string, { part: number; ir: number }>();
  for (const e of Deno.readDirSync(dir)) {
    const m = /^cg\.out\.(\d+)-(\d+)$/.exec(e.name);
    if (!m) continue;
    const text = Deno.readTextFileSync(`${dir}/${e.name}`);
    const ir = Number(/^summary:\s+(\d+)/m.exec(text)?.[1] ?? /^totals:\s+(\d+)/m.exec(text)?.[1]);
    const part = Number(m[1]);
    const prev = byThread.get(m[2]);
    if (!prev || prev.part < part) byThread.set(m[2], { part, ir });
  }
  return new Map([...byThread].map(([t, v]) => [t, v.ir]));
}

try {
  const wrk = await chatLoad(dir, gw, 20, "cg", { stream, chunks, delayMs: 0 });
  // Warm-up: JIT tiers and caches. Requests wrk cuts off at its deadline are settled with an
  // estimate, which loads the tokenizer (about a minute under callgrind): wait until the gateway
  // answers again before measuring.
  await wrk(8, 15);
  for (let i = 0; i < 20 && (await wrk(1, 5)).requests < 5; i++) { /* still busy */ }
  for (const c of loads) {
    await control("-z");
    const w = await wrk(c, seconds);
    // Requests wrk cut off at its deadline finish inside the dump; wait for them.
    await new Promise((r) => setTimeout(r, 3000));
    await control("-d");
    await new Promise((r) => setTimeout(r, 1000));
    const ir = lastDump();
    const total = [...ir.values()].reduce((s, v) => s + v, 0);
    console.log(
      `c${c}: ${w.requests} requests (${
        (w.requests / seconds).toFixed(1)
      } req/s under callgrind), ${(total / w.requests / 1e6).toFixed(2)} M instructions/request`,
    );
    for (const [t, v] of [...ir].sort((a, b) => b[1] - a[1])) {
      if (v / w.requests > 1e4) {
        console.log(`  thread ${t.padEnd(4)} ${(v / w.requests / 1e6).toFixed(3)} M/req`);
      }
    }
  }
} finally {
  await gw.proc.stop().catch(() => {});
  await mock.proc.stop().catch(() => {});
  console.log(`callgrind files in ${dir}`);
}
