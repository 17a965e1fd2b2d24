/**
 * A/B of two gateway source trees under the same steady load, alternated in one run so the
 * shared machine's drift hits both alike: `deno run -A bench/ab.ts --a=DIR --b=DIR
 * [--rounds=4] [--seconds=8] [--connections=64] [--chunks=10] [--stream] [--prof]
 * [--v8-a=FLAGS] [--v8-b=FLAGS]`. Both
 * gateways (each DIR's main.ts, its own SQLite database, 1,000 keys) run at once on the server
 * core; only the one under load is busy. Prints req/s and CPU µs per request of each round, and
 * the medians' ratio B/A. `--prof` runs both under --cpu-prof and prints each one's busy-time
 * profile (idle excluded).
 * @module
 */
import { createKeys } from "./admin_client.ts";
import { cpuOf } from "./procs.ts";
import { bodyOf } from "./scenarios.ts";
import { type GatewayTarget, startGateway, startMock } from "./servers.ts";
import { runWrk } from "./wrk.ts";
import { summariseProfiles } from "./profile_summary.ts";

const opt = (name: string, d: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? d;
const flag = (name: string) => Deno.args.includes(`--${name}`);
const rounds = Number(opt("rounds", "4"));
const seconds = Number(opt("seconds", "8"));
const connections = Number(opt("connections", "64"));
const chunks = Number(opt("chunks", "10"));
const stream = flag("stream");
const prof = flag("prof");
const path = opt("path", "/api/chat") as "/api/chat" | "/v1/chat/completions";
const dirs = { a: opt("a", "."), b: opt("b", ".") };
/** V8 flags per variant (`--v8-b=--optimize-for-size`). */
const v8 = { a: opt("v8-a", ""), b: opt("v8-b", "") };

interface Variant {
  name: string;
  gw: GatewayTarget;
  keysFile: string;
  rps: number[];
  cpu: number[];
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

const dir = await Deno.makeTempDir({ prefix: "llmq-ab-" });
const mock = await startMock(dir, "0");
const stops: (() => Promise<void>)[] = [() => mock.proc.stop()];
try {
  const gws: Variant[] = [];
  for (const [name, root] of Object.entries(dirs)) {
    const main = new URL(`file://${Deno.realPathSync(root)}/main.ts`).pathname;
    const gw = await startGateway(
      dir,
      `ab_${name}`,
      `sqlite:///${dir}/${name}.db`,
      mock.url,
      "0",
      prof ? `${dir}/prof_${name}` : null,
      main,
      v8[name as "a" | "b"] ? [`--v8-flags=${v8[name as "a" | "b"]}`] : [],
    );
    stops.push(() => gw.proc.stop());
    const keys = await createKeys(gw.adminUrl, 1000, name);
    const keysFile = `${dir}/keys_${name}.txt`;
    await Deno.writeTextFile(keysFile, keys.join("\n") + "\n");
    gws.push({ name, gw, keysFile, rps: [] as number[], cpu: [] as number[] });
  }
  const bodyFile = `${dir}/body.json`;
  await Deno.writeTextFile(bodyFile, bodyOf({ path, stream, chunks, delayMs: 0 }));
  const run = async (g: Variant, secs: number) => {
    const pids = g.gw.proc.pids();
    const c0 = cpuOf(pids);
    const w = await runWrk({
      url: g.gw.url,
      path,
      bodyFile,
      keysFile: g.keysFile,
      connections,
      seconds: secs,
      cores: "1",
    });
    await new Promise((r) => setTimeout(r, 300));
    return { rps: w.requests / (w.duration_us / 1e6), cpu: (cpuOf(pids) - c0) / w.requests };
  };
  for (const g of gws) await run(g, 3);
  for (let i = 0; i < rounds; i++) {
    // Alternate the order, so neither is always first after the other's load.
    for (const g of i % 2 ? [...gws].reverse() : gws) {
      const m = await run(g, seconds);
      g.rps.push(m.rps);
      g.cpu.push(m.cpu);
      console.log(
        `round ${i + 1} ${g.name}: ${m.rps.toFixed(0)} req/s, ${m.cpu.toFixed(1)} us CPU/req`,
      );
    }
  }
  const [a, b] = gws;
  console.log(
    `median a: ${median(a.rps).toFixed(0)} req/s ${median(a.cpu).toFixed(1)} us/req; b: ${
      median(b.rps).toFixed(0)
    } req/s ${median(b.cpu).toFixed(1)} us/req; b/a req/s ${
      (median(b.rps) / median(a.rps)).toFixed(3)
    }, CPU ${(median(b.cpu) / median(a.cpu)).toFixed(3)}`,
  );
  console.log(`load average: ${Deno.readTextFileSync("/proc/loadavg").trim()}`);
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
}
if (prof) {
  for (const name of ["a", "b"]) {
    console.log(`\n== profile ${name}`);
    console.log(await summariseProfiles(`${dir}/prof_${name}`, 30, true));
  }
  console.log(`profiles in ${dir}`);
}
