/**
 * GC pauses against the one-connection p99: `deno run -A bench/gc_pauses.ts [more V8 flags, e.g.
 * --trace-gc-nvp] [--seconds=10] [--keys=1000] [--connections=1]`. Starts the mock and one gateway (SQLite, 1,000 keys)
 * with `--v8-flags=--trace-gc` on top of the start task's V8 flags (BENCH_GATEWAY_V8_FLAGS replaces
 * those; `none`: V8's defaults) and the flags given, runs wrk at one connection, and prints
 * wrk's p50/p99, each GC kind's count, median and largest pause from V8's trace, and the
 * gateway's own duration_ms tail from its request log (what the handler saw, ms resolution);
 * with the V8 flag `--trace-gc-nvp`, also what each scavenge promoted to the old generation and
 * what was allocated per request.
 * @module
 */
import { chatLoad } from "./chat_load.ts";
import { gatewayV8Flags, startGateway, startMock } from "./servers.ts";

const seconds = Number(
  Deno.args.find((a) => a.startsWith("--seconds="))?.slice("--seconds=".length) ?? 10,
);
const keyCount = Number(
  Deno.args.find((a) => a.startsWith("--keys="))?.slice("--keys=".length) ?? 1000,
);
/** One connection by default (the p99 target); more to see what GC costs under load. */
const connections = Number(
  Deno.args.find((a) => a.startsWith("--connections="))?.slice("--connections=".length) ?? 1,
);
/** What startGateway runs with before the flags given here. */
const base = await gatewayV8Flags();
const v8 = Deno.args.filter((a) => !/^--(seconds|keys|connections)=/.test(a) && a !== "").join(
  ",",
);

const dir = await Deno.makeTempDir({ prefix: "llmq-gc-" });
const mock = await startMock(dir, "0");
const gw = await startGateway(
  dir,
  "gw",
  `sqlite:///${dir}/gw.db`,
  mock.url,
  "0",
  null,
  undefined,
  [`--v8-flags=--trace-gc${v8 ? `,${v8}` : ""}`],
);
try {
  const wrk = await chatLoad(dir, gw, keyCount, "g");
  await wrk(64, 3);
  await wrk(1, 3);
  const before = (await Deno.readTextFile(gw.proc.log)).length;
  const w = await wrk(connections, seconds);
  const text = (await Deno.readTextFile(gw.proc.log)).slice(before);
  const pauses = new Map<string, number[]>();
  const trace =
    /ms: (Scavenge|Incremental Mark-Compact|Mark-Compact|Minor Mark-Sweep)[^\n]*?MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/g;
  for (const m of text.matchAll(trace)) {
    pauses.set(m[1], [...(pauses.get(m[1]) ?? []), Number(m[2])]);
  }
  // --trace-gc-nvp writes one JSON object per collection instead.
  const promoted: number[] = [];
  let allocated = 0;
  for (const m of text.matchAll(/GC: (\{.*\})/g)) {
    const g = JSON.parse(m[1]) as {
      gc: string;
      pause: number;
      promoted?: number;
      allocated?: number;
    };
    const kind = g.gc === "s" ? "Scavenge" : `GC ${g.gc}`;
    pauses.set(kind, [...(pauses.get(kind) ?? []), g.pause]);
    if (g.gc === "s" && g.promoted !== undefined) promoted.push(g.promoted);
    allocated += g.allocated ?? 0;
  }
  const ms = (us: number) => (us / 1000).toFixed(3);
  console.log(
    `c${connections} ${
      [base, v8].filter((f) => f).join(",") || "(V8 defaults)"
    }, ${keyCount} keys: ${w.requests} requests, p50 ${ms(w.p50_us)} p99 ${ms(w.p99_us)} max ${
      ms(w.max_us)
    } ms; load average ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`,
  );
  for (const [kind, v] of pauses) {
    v.sort((a, b) => a - b);
    const sum = v.reduce((s, x) => s + x, 0);
    console.log(
      `  ${kind}: ${v.length} (${(v.length / seconds).toFixed(1)}/s), pause median ${
        v[Math.floor(v.length / 2)]
      } ms, max ${v[v.length - 1]} ms, total ${sum.toFixed(1)} ms`,
    );
  }
  if (promoted.length) {
    const mb = promoted.reduce((a, b) => a + b, 0) / 1e6;
    console.log(
      `  promoted by scavenges: ${(mb / promoted.length).toFixed(2)} MB each, ${
        (mb * 1e6 / w.requests / 1024).toFixed(1)
      } KB per request; allocated between collections: ${
        (allocated / w.requests / 1024).toFixed(1)
      } KB per request`,
    );
  }
  const durations = [...text.matchAll(/duration_ms=(\d+)/g)].map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  console.log(
    `  gateway duration_ms: p99 ${durations[Math.floor(durations.length * 0.99)]}, max ${
      durations[durations.length - 1]
    }`,
  );
} finally {
  await gw.proc.stop().catch(() => {});
  await mock.proc.stop().catch(() => {});
  await Deno.remove(dir, { recursive: true });
}
