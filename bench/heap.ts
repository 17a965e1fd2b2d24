/**
 * What each open stream holds: heap snapshots of the gateway (bench/heap_gateway.ts) when idle
 * and while `--streams=N` slow streams are open (50 chunks 100 ms apart), summarised by
 * constructor — count and self size, and the difference per open stream. Run:
 * `deno run -A bench/heap.ts [--streams=1000] [--dir=.]` (`--dir`: the source tree to run).
 * Each snapshot forces a full GC first, so it shows what is live, not what awaits collection.
 * @module
 */
import { chatLoad } from "./chat_load.ts";
import { rssMb } from "./procs.ts";
import { startGateway, startMock } from "./servers.ts";

const opt = (name: string, d: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? d;
const streams = Number(opt("streams", "1000"));
const root = Deno.realPathSync(opt("dir", new URL("..", import.meta.url).pathname));

/** A V8 heap snapshot summarised: per constructor (node name), count and self size. */
type Summary = Map<string, { count: number; size: number }>;

/** Asks the gateway for a heap snapshot (SIGUSR2, bench/heap_gateway.ts) and summarises it. */
async function snapshot(): Promise<{ total: number; by: Summary }> {
  const seen = (await Deno.readTextFile(gw.proc.log)).match(/heap snapshot \S+/g)?.length ?? 0;
  Deno.kill(gw.proc.pid, "SIGUSR2");
  let path: string | undefined;
  for (let i = 0; i < 600 && !path; i++) {
    await new Promise((r) => setTimeout(r, 100));
    path = [...(await Deno.readTextFile(gw.proc.log)).matchAll(/heap snapshot (\S+)/g)][seen]?.[1];
  }
  if (!path) throw new Error("no heap snapshot");
  const text = await Deno.readTextFile(path);
  const save = opt("save", "");
  if (save) await Deno.writeTextFile(save, text);
  await Deno.remove(path);
  const snap = JSON.parse(text);
  const fields: string[] = snap.snapshot.meta.node_fields;
  const types: string[] = snap.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const by: Summary = new Map();
  let total = 0;
  const nodes: number[] = snap.nodes;
  for (let i = 0; i < nodes.length; i += fields.length) {
    const type = types[nodes[i + iType]];
    const size = nodes[i + iSize];
    // Native nodes (ArrayBuffer backing stores above all) by name and a size class.
    const name = type === "object" || type === "closure"
      ? `${type === "closure" ? "closure " : ""}${snap.strings[nodes[i + iName]]}`
      : type === "native"
      ? `(native) ${snap.strings[nodes[i + iName]]} ~${2 ** Math.ceil(Math.log2(size + 1))} B`
      : `(${type})`;
    total += size;
    const e = by.get(name) ?? { count: 0, size: 0 };
    e.count++;
    e.size += size;
    by.set(name, e);
  }
  return { total, by };
}

const dir = await Deno.makeTempDir({ prefix: "llmq-heap-" });
const mock = await startMock(dir, "0");
Deno.env.set("HEAP_DIR", dir);
const gw = await startGateway(
  dir,
  "heap",
  `sqlite:///${dir}/heap.db`,
  mock.url,
  "0",
  null,
  `${root}/bench/heap_gateway.ts`,
);
try {
  const load = await chatLoad(dir, gw, 1000, "heap", {
    stream: true,
    chunks: 50,
    delayMs: 100,
  });
  // Warm up (and let a client leave, which loads the tokenizer once) before the idle snapshot.
  await load(64, 3);
  await new Promise((r) => setTimeout(r, 1000));
  const idle = await snapshot();
  const idleRss = rssMb(gw.proc.pids());
  // Snapshots once every connection runs (7 s), and later in the soak: a live heap that grows
  // between them is a leak; RSS that grows while the live heap does not is the collector's room.
  const soakSeconds = Number(opt("seconds", "50"));
  const running = load(streams, soakSeconds);
  const t0 = performance.now();
  const at = async (s: number) => {
    await new Promise((r) => setTimeout(r, Math.max(0, s * 1000 - (performance.now() - t0))));
    const rss = rssMb(gw.proc.pids());
    const snap = await snapshot();
    console.log(
      `at ${s} s: RSS ${rss.toFixed(0)} MB before the snapshot's GC, live heap ${
        (snap.total / 1e6).toFixed(1)
      } MB, after it RSS ${rssMb(gw.proc.pids()).toFixed(0)} MB`,
    );
    return { rss, snap };
  };
  const first = await at(7);
  const later = [];
  for (let s = 20; s < soakSeconds - 3; s += 12) later.push(await at(s));
  await running;
  const busy = first.snap, busyRss = first.rss;
  const rows = [...busy.by].map(([name, b]) => {
    const a = idle.by.get(name) ?? { count: 0, size: 0 };
    return { name, count: b.count - a.count, size: b.size - a.size };
  }).sort((x, y) => y.size - x.size);
  console.log(
    `live JS heap: idle ${(idle.total / 1e6).toFixed(1)} MB, with ${streams} streams ${
      (busy.total / 1e6).toFixed(1)
    } MB: ${((busy.total - idle.total) / streams / 1024).toFixed(1)} KB per stream; RSS ${
      idleRss.toFixed(0)
    } -> ${busyRss.toFixed(0)} MB (${
      ((busyRss - idleRss) * 1024 / streams).toFixed(1)
    } KB per stream)`,
  );
  for (const l of later) {
    console.log(
      `  later: live heap ${((l.snap.total - busy.total) / 1e6).toFixed(2)} MB vs at 7 s, RSS ${
        (l.rss - busyRss).toFixed(0)
      } MB vs at 7 s`,
    );
  }
  console.log("per open stream, by constructor (count, bytes):");
  for (const r of rows.slice(0, 40)) {
    console.log(
      `  ${(r.count / streams).toFixed(2).padStart(7)}  ${
        (r.size / streams).toFixed(0).padStart(7)
      } B  ${r.name}`,
    );
  }
} finally {
  await gw.proc.stop();
  await mock.proc.stop();
}
