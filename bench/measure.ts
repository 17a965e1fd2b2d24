/**
 * Measures one scenario on one target: wrk for req/s and latency, /proc for CPU and peak RSS, the
 * admin API for recorded usage, the probe for time to first chunk and chunk order.
 * @module
 */
import { totalUsage, type UsageTotals } from "./admin_client.ts";
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

/** The soak's numbers: peak RSS and growth of RSS from the end of warm-up to the end. */
export interface SoakMeasurement extends Measurement {
  rss_start_mb: number;
  rss_end_mb: number;
  growth_pct: number;
  seconds: number;
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
  resetPeak(pids);
  const cpu0 = cpuOf(pids);
  const samples: number[] = [];
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
    samples.push(rssMb(pids));
    await pause(1000);
  }
  const wrk = await running;
  await pause(300);
  // The first streams take a full stream's length (5 s) to reach steady state.
  const warm = samples.slice(Math.min(samples.length - 1, Math.ceil(samples.length / 4)));
  const head = warm.slice(0, 3);
  const tail = warm.slice(-3);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const start = avg(head);
  const end = avg(tail);
  return {
    rps: (wrk.requests - wrk.status_errors) / (wrk.duration_us / 1e6),
    requests: wrk.requests,
    errors: wrk.connect_errors + wrk.read_errors + wrk.write_errors + wrk.status_errors +
      wrk.timeouts,
    p50_ms: wrk.p50_us / 1000,
    p99_ms: wrk.p99_us / 1000,
    cpu_us_per_req: (cpuOf(pids) - cpu0) / Math.max(1, wrk.requests),
    peak_rss_mb: peakRssMb(pids),
    rss_start_mb: start,
    rss_end_mb: end,
    growth_pct: start > 0 ? (end - start) / start * 100 : 0,
    seconds,
  };
}
