/**
 * Measures one scenario on one target: wrk for req/s and latency, /proc for CPU and peak RSS, the
 * admin API for recorded usage, the probe for time to first chunk and chunk order.
 * @module
 */
import { type DbTimes, dbTimes, totalUsage, type UsageTotals } from "./admin_client.ts";
import { cpuOf, peakRssMb, pinned, resetPeak, rssMb } from "./procs.ts";
import { bodyOf, type Scenario } from "./scenarios.ts";
import type { Target } from "./servers.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

/** Where the run keeps its files and which cores it uses. */
export interface RunContext {
  dir: string;
  seconds: number;
  loadCores: string | null;
  keysFiles: Record<Scenario["keys"], string>;
}

/** A target's name, process and, for a gateway, its admin URL. */
export interface Subject {
  name: string;
  target: Target;
  adminUrl?: string;
}

/** The numbers of one scenario on one target. */
export interface Measurement {
  rps: number;
  requests: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
  cpu_us_per_req: number;
  peak_rss_mb: number;
  ttfc?: ProbeTtfc;
  paced?: ProbePaced;
  /** Gateway only: requests recorded in the DB during the run, and wrk's successful answers. */
  usage?: { recorded: number; served: number; tolerance: number };
  /**
   * Gateway only: per store operation, calls per request and the mean wall time of one call
   * (ms) — how much of a request the database path takes (llmq_db_duration_seconds).
   */
  db?: Record<string, { per_req: number; mean_ms: number }>;
}

/** The probe's time-to-first-chunk result. */
export interface ProbeTtfc {
  samples: number;
  ttfc_p50_ms: number;
  ttfc_p99_ms: number;
  total_p50_ms: number;
  total_p99_ms: number;
  bad_streams: number;
}

/** The probe's paced-stream result. */
export interface ProbePaced {
  streams: number;
  bad_streams: number;
  min_spread_ms: number;
  min_reads: number;
}

/** Writes a scenario's body to a file for wrk and the probe; returns its path. */
export async function bodyFile(ctx: RunContext, s: Scenario): Promise<string> {
  const file = `${ctx.dir}/body_${s.id}.json`;
  await Deno.writeTextFile(file, bodyOf(s));
  return file;
}

/** Runs the probe in its own process on the load core. */
export async function runProbe<T>(ctx: RunContext, args: string[]): Promise<T> {
  const probe = new URL("./probe.ts", import.meta.url).pathname;
  const argv = pinned(
    [Deno.execPath(), "run", "--allow-net", "--allow-read", probe, ...args],
    ctx.loadCores,
  );
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  const m = /PROBE_JSON (\{.*\})/.exec(text);
  if (!m) throw new Error(`probe failed: ${text}${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(m[1]) as T;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs scenario `s` against one subject. */
export async function measure(
  ctx: RunContext,
  s: Scenario,
  subject: Subject,
): Promise<Measurement> {
  const body = await bodyFile(ctx, s);
  const pids = subject.target.proc.pids();
  const before: UsageTotals | null = subject.adminUrl ? await totalUsage(subject.adminUrl) : null;
  const db0: DbTimes | null = subject.adminUrl ? await dbTimes(subject.adminUrl) : null;
  resetPeak(pids);
  const cpu0 = cpuOf(pids);
  const wrk: WrkResult = await runWrk({
    url: subject.target.url,
    path: s.path,
    bodyFile: body,
    keysFile: ctx.keysFiles[s.keys],
    connections: s.connections,
    seconds: ctx.seconds,
    cores: ctx.loadCores,
  });
  // Requests wrk cut off at its deadline still finish (or are aborted) on the server.
  await pause(300);
  const cpu = cpuOf(pids) - cpu0;
  const peak = peakRssMb(pids);
  const errors = wrk.connect_errors + wrk.read_errors + wrk.write_errors + wrk.status_errors +
    wrk.timeouts;
  const served = wrk.requests - wrk.status_errors;
  const m: Measurement = {
    rps: served / (wrk.duration_us / 1e6),
    requests: wrk.requests,
    errors,
    p50_ms: wrk.p50_us / 1000,
    p99_ms: wrk.p99_us / 1000,
    cpu_us_per_req: cpu / Math.max(1, wrk.requests),
    peak_rss_mb: peak,
  };
  if (before && subject.adminUrl) {
    const after = await totalUsage(subject.adminUrl);
    m.usage = { recorded: after.requests - before.requests, served, tolerance: s.connections };
  }
  if (db0 && subject.adminUrl) {
    const db1 = await dbTimes(subject.adminUrl);
    m.db = {};
    for (const [op, t] of Object.entries(db1)) {
      const calls = t.count - (db0[op]?.count ?? 0);
      if (calls <= 0) continue;
      m.db[op] = {
        per_req: calls / Math.max(1, wrk.requests),
        mean_ms: (t.sum - (db0[op]?.sum ?? 0)) / calls * 1000,
      };
    }
  }
  if (s.ttfc) {
    const key = s.keys === "one" ? firstKey(ctx, "one") : firstKey(ctx, "many");
    const k = subject.adminUrl ? key : "-";
    m.ttfc = await runProbe<ProbeTtfc>(ctx, ["ttfc", subject.target.url, s.path, body, k, "3"]);
    const pacedBody = await bodyFile(ctx, { ...s, id: `${s.id}_paced`, chunks: 20, delayMs: 5 });
    m.paced = await runProbe<ProbePaced>(ctx, [
      "paced",
      subject.target.url,
      s.path,
      pacedBody,
      k,
      "5",
    ]);
  }
  return m;
}

const firstKeys: Record<string, string> = {};

function firstKey(ctx: RunContext, set: Scenario["keys"]): string {
  return firstKeys[set] ??= Deno.readTextFileSync(ctx.keysFiles[set]).split("\n")[0];
}

/** Least-squares slope of `ys` over `xs` (units of y per unit of x); 0 with fewer than 2 points. */
export function slope(xs: number[], ys: number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  let sx = 0, sy = 0;
  for (let i = 0; i < n; i++) [sx, sy] = [sx + xs[i], sy + ys[i]];
  const mx = sx / n, my = sy / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * The soak's numbers: RSS before it (idle), sampled every second while it runs; after the
 * warm-up (the first streams take a full stream's length to reach steady state) the mean, a
 * least-squares slope, and the memory each open stream adds over the idle process.
 */
export interface SoakMeasurement extends Measurement {
  rss_idle_mb: number;
  rss_start_mb: number;
  rss_end_mb: number;
  rss_mean_mb: number;
  growth_pct: number;
  /** Fitted slope of RSS over the steady part, MB per minute. */
  slope_mb_per_min: number;
  /** (mean steady RSS − idle RSS) / open streams, in KB. */
  per_stream_kb: number;
  /** Seconds of steady samples the slope was fitted on. */
  steady_seconds: number;
  streams: number;
  seconds: number;
  samples: Array<[number, number]>;
}

/** Holds `s.connections` slow streams open for `seconds`, sampling RSS every second. */
export async function soak(
  ctx: RunContext,
  s: Scenario,
  subject: Subject,
  seconds: number,
): Promise<SoakMeasurement> {
  const body = await bodyFile(ctx, s);
  const pids = subject.target.proc.pids();
  await pause(1000);
  const idle = rssMb(pids);
  resetPeak(pids);
  const cpu0 = cpuOf(pids);
  const samples: Array<[number, number]> = [];
  const t0 = performance.now();
  const running = runWrk({
    url: subject.target.url,
    path: s.path,
    bodyFile: body,
    keysFile: ctx.keysFiles[s.keys],
    connections: s.connections,
    seconds,
    cores: ctx.loadCores,
  });
  let done = false;
  running.finally(() => done = true);
  while (!done) {
    samples.push([(performance.now() - t0) / 1000, rssMb(pids)]);
    await pause(1000);
  }
  const wrk = await running;
  await pause(300);
  // Steady once every connection has run one whole stream (its length, plus a second), and
  // before wrk's deadline starts to close connections.
  const streamSeconds = s.chunks * s.delayMs / 1000;
  const steady = samples.filter(([t]) => t >= streamSeconds + 1 && t <= seconds - 0.5);
  const used = steady.length >= 3 ? steady : samples.slice(Math.floor(samples.length / 2));
  const ys = used.map(([, y]) => y);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const start = avg(ys.slice(0, 3));
  const end = avg(ys.slice(-3));
  const mean = avg(ys);
  return {
    rps: (wrk.requests - wrk.status_errors) / (wrk.duration_us / 1e6),
    requests: wrk.requests,
    errors: wrk.connect_errors + wrk.read_errors + wrk.write_errors + wrk.status_errors +
      wrk.timeouts,
    p50_ms: wrk.p50_us / 1000,
    p99_ms: wrk.p99_us / 1000,
    cpu_us_per_req: (cpuOf(pids) - cpu0) / Math.max(1, wrk.requests),
    peak_rss_mb: peakRssMb(pids),
    rss_idle_mb: idle,
    rss_start_mb: start,
    rss_end_mb: end,
    rss_mean_mb: mean,
    growth_pct: start > 0 ? (end - start) / start * 100 : 0,
    slope_mb_per_min: slope(used.map(([t]) => t), ys) * 60,
    per_stream_kb: (mean - idle) * 1024 / s.connections,
    steady_seconds: used.length ? used[used.length - 1][0] - used[0][0] : 0,
    streams: s.connections,
    seconds,
    samples: samples.map(([t, y]) => [Math.round(t * 10) / 10, Math.round(y * 10) / 10]),
  };
}

/**
 * Runs scenario `s` on several gateway processes at once (one wrk each, the connections split
 * between them) on one database: summed req/s, CPU of all of them, usage read once (the same
 * database holds it all).
 */
export async function measureTogether(
  ctx: RunContext,
  s: Scenario,
  subjects: Subject[],
): Promise<Measurement> {
  const body = await bodyFile(ctx, s);
  const pids = subjects.flatMap((x) => x.target.proc.pids());
  const adminUrl = subjects[0].adminUrl!;
  const before = await totalUsage(adminUrl);
  resetPeak(pids);
  const cpu0 = cpuOf(pids);
  const per = Math.max(1, Math.round(s.connections / subjects.length));
  const runs = await Promise.all(subjects.map((x) =>
    runWrk({
      url: x.target.url,
      path: s.path,
      bodyFile: body,
      keysFile: ctx.keysFiles[s.keys],
      connections: per,
      seconds: ctx.seconds,
      cores: ctx.loadCores,
    })
  ));
  await pause(300);
  const cpu = cpuOf(pids) - cpu0;
  const sum = (f: (w: WrkResult) => number) => runs.reduce((a, w) => a + f(w), 0);
  const served = sum((w) => w.requests - w.status_errors);
  const requests = sum((w) => w.requests);
  const after = await totalUsage(adminUrl);
  return {
    rps: runs.reduce((a, w) => a + (w.requests - w.status_errors) / (w.duration_us / 1e6), 0),
    requests,
    errors: sum((w) =>
      w.connect_errors + w.read_errors + w.write_errors + w.status_errors + w.timeouts
    ),
    p50_ms: Math.max(...runs.map((w) => w.p50_us)) / 1000,
    p99_ms: Math.max(...runs.map((w) => w.p99_us)) / 1000,
    cpu_us_per_req: cpu / Math.max(1, requests),
    peak_rss_mb: peakRssMb(pids),
    usage: {
      recorded: after.requests - before.requests,
      served,
      tolerance: per * subjects.length,
    },
  };
}
