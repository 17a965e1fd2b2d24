/**
 * Where the soak's memory per open stream goes: a fresh gateway (bench/heap_gateway.ts) and a
 * fresh Deno floor (bench/floor_memory.ts) each sample `Deno.memoryUsage()` once a second,
 * idle after the same warm-up and then under `--streams=N` slow streams (50 chunks 100 ms
 * apart) for `--seconds=S`. Printed per open stream: RSS, V8's heap as reserved (heapTotal) and
 * as used at the sample (heapUsed, garbage included), external memory (ArrayBuffer backing
 * stores), and the rest of RSS: native memory (Deno's Rust side: connections, buffers; SQLite's
 * page cache). Run: `deno run -A bench/soak_memory.ts [--streams=1000] [--seconds=40]
 * [--target=both|gateway|floor] [--dir=.]` (`--dir`: the gateway source tree to run).
 * @module
 */
import { createKeys } from "./admin_client.ts";
import { bodyOf } from "./scenarios.ts";
import { startFloor, startGateway, startMock, type Target } from "./servers.ts";
import { runWrk } from "./wrk.ts";

const opt = (name: string, d: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? d;
const streams = Number(opt("streams", "1000"));
const seconds = Number(opt("seconds", "40"));
const which = opt("target", "both");
const root = Deno.realPathSync(opt("dir", new URL("..", import.meta.url).pathname));
const NAMES = ["rss", "heapTotal", "heapUsed", "external"];

/** The memory lines a process logged so far: [rss, heapTotal, heapUsed, external] bytes. */
async function samples(log: string): Promise<number[][]> {
  return [...(await Deno.readTextFile(log)).matchAll(/^memory (\d+) (\d+) (\d+) (\d+)$/gm)]
    .map((m) => m.slice(1, 5).map(Number));
}

const mean = (rows: number[][], i: number) => rows.reduce((s, r) => s + r[i], 0) / rows.length;
const mb = (rows: number[][]) =>
  NAMES.map((n, i) => `${n} ${(mean(rows, i) / 1e6).toFixed(1)}`).join(", ");

/** Warms `target` up, samples it idle, then under the streams; prints the split. */
async function measure(name: string, target: Target, keysFile: string): Promise<void> {
  const run = (connections: number, s: number) =>
    runWrk({
      url: target.url,
      path: "/api/chat",
      bodyFile,
      keysFile,
      connections,
      seconds: s,
      cores: "1",
    });
  await run(64, 3);
  await new Promise((r) => setTimeout(r, 3000));
  const idle = (await samples(target.proc.log)).slice(-2);
  const before = (await samples(target.proc.log)).length;
  await run(streams, seconds);
  // The first stream's length (5 s) and a second more reach the steady state.
  const steady = (await samples(target.proc.log)).slice(before + 6, -1);
  const per = NAMES.map((_, i) => (mean(steady, i) - mean(idle, i)) / streams / 1024);
  console.log(
    `${name}: KB per open stream over idle (${steady.length} steady samples): ${
      NAMES.map((n, i) => `${n} ${per[i].toFixed(1)}`).join(", ")
    }, native (rss - heapTotal - external) ${(per[0] - per[1] - per[3]).toFixed(1)}`,
  );
  console.log(`  idle MB: ${mb(idle)}; steady MB: ${mb(steady)}`);
}

const dir = await Deno.makeTempDir({ prefix: "llmq-soakmem-" });
const bodyFile = `${dir}/body.json`;
await Deno.writeTextFile(
  bodyFile,
  bodyOf({ path: "/api/chat", stream: true, chunks: 50, delayMs: 100 }),
);
const mock = await startMock(dir, "0");
try {
  if (which !== "floor") {
    const gw = await startGateway(
      dir,
      "soakmem",
      `sqlite:///${dir}/soakmem.db`,
      mock.url,
      "0",
      null,
      `${root}/bench/heap_gateway.ts`,
    );
    try {
      const keysFile = `${dir}/keys.txt`;
      await Deno.writeTextFile(
        keysFile,
        (await createKeys(gw.adminUrl, 1000, "soakmem")).join("\n"),
      );
      await measure("gateway", gw, keysFile);
    } finally {
      await gw.proc.stop();
    }
  }
  if (which !== "gateway") {
    const here = (p: string) => new URL(p, import.meta.url).pathname;
    const floor = await startFloor(dir, mock.url, "0", "floor_memory", here("floor_memory.ts"));
    try {
      const keysFile = `${dir}/floor_keys.txt`;
      await Deno.writeTextFile(keysFile, "sk-floor\n");
      await measure("floor", floor, keysFile);
    } finally {
      await floor.proc.stop();
    }
  }
} finally {
  await mock.proc.stop();
}
