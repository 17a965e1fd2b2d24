/**
 * Where the soak's memory per open stream goes: the gateway (bench/heap_gateway.ts) samples
 * `Deno.memoryUsage()` once a second, idle and then under `--streams=N` slow streams (50
 * chunks 100 ms apart) for `--seconds=S`; printed per open stream: RSS, V8's heap as
 * reserved (heapTotal) and as used at the sample (heapUsed, garbage included), and external
 * memory (ArrayBuffer backing stores). RSS minus heapTotal minus external is native memory
 * (Deno's Rust side: connections, buffers; SQLite's page cache). Run:
 * `deno run -A bench/soak_memory.ts [--streams=1000] [--seconds=40] [--dir=.]`.
 * @module
 */
import { chatLoad } from "./chat_load.ts";
import { startGateway, startMock } from "./servers.ts";

const opt = (name: string, d: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? d;
const streams = Number(opt("streams", "1000"));
const seconds = Number(opt("seconds", "40"));
const root = Deno.realPathSync(opt("dir", new URL("..", import.meta.url).pathname));

/** The memory lines the gateway logged so far: [rss, heapTotal, heapUsed, external] bytes. */
async function samples(log: string): Promise<number[][]> {
  return [...(await Deno.readTextFile(log)).matchAll(/^memory (\d+) (\d+) (\d+) (\d+)$/gm)]
    .map((m) => m.slice(1, 5).map(Number));
}

const dir = await Deno.makeTempDir({ prefix: "llmq-soakmem-" });
const mock = await startMock(dir, "0");
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
  const load = await chatLoad(dir, gw, 1000, "soakmem", { stream: true, chunks: 50, delayMs: 100 });
  await load(64, 3);
  await new Promise((r) => setTimeout(r, 3000));
  const idle = (await samples(gw.proc.log)).slice(-2);
  const before = (await samples(gw.proc.log)).length;
  await load(streams, seconds);
  // The first stream's length (5 s) and a second more to reach the steady state.
  const steady = (await samples(gw.proc.log)).slice(before + 6, -1);
  const mean = (rows: number[][], i: number) => rows.reduce((s, r) => s + r[i], 0) / rows.length;
  const names = ["rss", "heapTotal", "heapUsed", "external"];
  const per = names.map((_, i) => (mean(steady, i) - mean(idle, i)) / streams / 1024);
  const native = per[0] - per[1] - per[3];
  console.log(
    `${steady.length} steady samples; KB per open stream over idle: ${
      names.map((n, i) => `${n} ${per[i].toFixed(1)}`).join(", ")
    }, native (rss - heapTotal - external) ${native.toFixed(1)}`,
  );
  console.log(
    `idle MB: ${names.map((n, i) => `${n} ${(mean(idle, i) / 1e6).toFixed(1)}`).join(", ")}`,
  );
  console.log(
    `steady MB: ${names.map((n, i) => `${n} ${(mean(steady, i) / 1e6).toFixed(1)}`).join(", ")}`,
  );
} finally {
  await gw.proc.stop();
  await mock.proc.stop();
}
