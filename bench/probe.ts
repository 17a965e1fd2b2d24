/**
 * A client process for what wrk cannot see. Modes (argv[0]):
 * - `ttfc <url> <path> <bodyFile> <key|-> <seconds>`: sequential streamed requests; time to the
 *   first body chunk and to the end, and whether every content chunk arrived, once, in order.
 * - `paced <url> <path> <bodyFile> <key|-> <count>`: streams whose upstream paces its chunks;
 *   reports how spread out their arrival was (a buffering proxy delivers them all at once).
 * - `burst <url> <path> <bodyFile> <keysFile> <count> <concurrency>`: exactly `count` requests
 *   to completion, rotating keys; counts answers by status.
 * Prints one `PROBE_JSON {…}` line.
 * @module
 */

/** Percentile (nearest rank) of sorted numbers. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The `t<i>` contents of a streamed body, in order. */
export function contentsOf(body: string): number[] {
  const out: number[] = [];
  for (const m of body.matchAll(/"content":"t(\d+)"/g)) out.push(Number(m[1]));
  return out;
}

/** Whether contents are exactly 0..n-1. */
export function inOrder(contents: number[], n: number): boolean {
  return contents.length === n && contents.every((c, i) => c === i);
}

function headersFor(key: string): HeadersInit {
  const h: Record<string, string> = { "content-type": "application/json" };
  if (key !== "-") h.authorization = `Bearer ${key}`;
  return h;
}

async function timedStream(url: string, body: string, key: string) {
  const t0 = performance.now();
  const res = await fetch(url, { method: "POST", headers: headersFor(key), body });
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let first = -1;
  let text = "";
  const arrivals: number[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const now = performance.now() - t0;
    if (first < 0) first = now;
    arrivals.push(now);
    text += dec.decode(value, { stream: true });
  }
  return { status: res.status, first, total: performance.now() - t0, text, arrivals };
}

async function ttfc(url: string, body: string, key: string, seconds: number, chunks: number) {
  const firsts: number[] = [];
  const totals: number[] = [];
  let bad = 0;
  const end = performance.now() + seconds * 1000;
  for (let i = 0; i < 20; i++) await timedStream(url, body, key); // warm up
  while (performance.now() < end) {
    const r = await timedStream(url, body, key);
    if (r.status !== 200 || !inOrder(contentsOf(r.text), chunks)) bad++;
    firsts.push(r.first);
    totals.push(r.total);
  }
  firsts.sort((a, b) => a - b);
  totals.sort((a, b) => a - b);
  return {
    samples: firsts.length,
    ttfc_p50_ms: percentile(firsts, 50),
    ttfc_p99_ms: percentile(firsts, 99),
    total_p50_ms: percentile(totals, 50),
    total_p99_ms: percentile(totals, 99),
    bad_streams: bad,
  };
}

async function paced(url: string, body: string, key: string, count: number, chunks: number) {
  let bad = 0;
  const spreads: number[] = [];
  const reads: number[] = [];
  for (let i = 0; i < count; i++) {
    const r = await timedStream(url, body, key);
    if (r.status !== 200 || !inOrder(contentsOf(r.text), chunks)) bad++;
    spreads.push(r.arrivals[r.arrivals.length - 1] - r.arrivals[0]);
    reads.push(r.arrivals.length);
  }
  return {
    streams: count,
    bad_streams: bad,
    min_spread_ms: Math.min(...spreads),
    min_reads: Math.min(...reads),
  };
}

async function burst(url: string, body: string, keys: string[], count: number, conc: number) {
  const statuses: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const res = await fetch(url, {
        method: "POST",
        headers: headersFor(keys[i % keys.length]),
        body,
      });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  return { count, statuses };
}

if (import.meta.main) {
  const [mode, base, path, bodyFile, key, n, extra] = Deno.args;
  const body = await Deno.readTextFile(bodyFile);
  const chunks = Number(/bench-c(\d+)/.exec(body)?.[1] ?? 50);
  let result: unknown;
  if (mode === "ttfc") result = await ttfc(base + path, body, key, Number(n), chunks);
  else if (mode === "paced") result = await paced(base + path, body, key, Number(n), chunks);
  else {
    const keys = (await Deno.readTextFile(key)).split("\n").filter(Boolean);
    result = await burst(base + path, body, keys, Number(n), Number(extra));
  }
  console.log(`PROBE_JSON ${JSON.stringify(result)}`);
}
