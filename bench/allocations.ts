/**
 * Where the gateway allocates at one connection: `deno run -A bench/allocations.ts
 * [--seconds=10] [--keys=1000] [--top=30]`. Starts the mock and one gateway (SQLite) with
 * `--inspect`, runs wrk at one connection, and samples every allocation with V8's sampling heap
 * profiler (objects collected by either GC are kept in the profile). Prints KB allocated per
 * request, the allocating functions, and the gateway's own functions that led to them (the
 * nearest of our frames on the stack), each in bytes per request.
 * The inspector makes Deno's fetch tee response bodies for its network panel: frames such as
 * readableByteStreamTee and ext:deno_node/inspector_network_bridge.js are that, not the gateway.
 * @module
 */
import { chatLoad } from "./chat_load.ts";
import { startGateway, startMock } from "./servers.ts";

const arg = (name: string, fallback: number) =>
  Number(Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const seconds = arg("seconds", 10);
const keyCount = arg("keys", 1000);
const top = arg("top", 30);
const inspectPort = 9239;

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
  id: number;
}

/** One CDP session over the inspector's WebSocket. */
async function cdp(url: string) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let next = 1;
  const waiting = new Map<number, (v: unknown) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.id && waiting.has(m.id)) waiting.get(m.id)!(m.result ?? m.error);
  };
  return {
    send: (method: string, params: unknown = {}) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const id = next++;
        waiting.set(id, resolve as (v: unknown) => void);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

const dir = await Deno.makeTempDir({ prefix: "llmq-alloc-" });
const mock = await startMock(dir, "0");
const gw = await startGateway(dir, "gw", `sqlite:///${dir}/gw.db`, mock.url, "0", null, undefined, [
  `--inspect=127.0.0.1:${inspectPort}`,
]);
try {
  const wrk = await chatLoad(dir, gw, keyCount, "a");
  await wrk(64, 3);
  const targets = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
  const session = await cdp(targets[0].webSocketDebuggerUrl);
  await session.send("HeapProfiler.enable");
  await session.send("HeapProfiler.collectGarbage");
  const sample = async (secs: number) => {
    await session.send("HeapProfiler.startSampling", {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    const w = await wrk(1, secs);
    const result = await session.send("HeapProfiler.stopSampling") as {
      profile: { head: Node };
    };
    return { w, result };
  };
  // A first window takes what is allocated once (lazy tables, caches filling up) and is thrown
  // away: the second shows what each request costs.
  await sample(5);
  const { w, result } = await sample(seconds);
  session.close();
  const bySite = new Map<string, number>();
  const byOwn = new Map<string, number>();
  let total = 0;
  const walk = (n: Node, stack: string[]) => {
    const f = n.callFrame;
    const name = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/main\//, "")}:${
      f.lineNumber + 1
    }`;
    const here = [...stack, name];
    if (n.selfSize) {
      const own = here.findLast((s) => /\.ts:\d+$/.test(s) && !/ext:|npm/.test(s)) ?? "(runtime)";
      bySite.set(name, (bySite.get(name) ?? 0) + n.selfSize);
      byOwn.set(own, (byOwn.get(own) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, here);
  };
  walk(result.profile.head, []);
  console.log(
    `c1, ${keyCount} keys: ${w.requests} requests in ${seconds} s; sampled allocations: ${
      (total / w.requests / 1024).toFixed(1)
    } KB per request`,
  );
  const print = (title: string, m: Map<string, number>) => {
    console.log(title);
    for (const [site, bytes] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(
        `${(bytes / w.requests).toFixed(0).padStart(6)} B/req ${
          (100 * bytes / total).toFixed(1).padStart(5)
        } %  ${site}`,
      );
    }
  };
  print("allocating function:", bySite);
  print("nearest gateway function on the stack:", byOwn);
} finally {
  await gw.proc.stop().catch(() => {});
  await mock.proc.stop().catch(() => {});
  await Deno.remove(dir, { recursive: true });
}
