/**
 * Issue 18's targets, judged from one run's measurements: the gateway against `deno_floor`
 * (`Deno.serve` + `fetch`, bytes passed through) in the same run, as ratios and differences.
 * @module
 */
import type { Measurement, SoakMeasurement } from "./measure.ts";

/** Measurements of one scenario, by target name (direct, nginx, gateway, gateway_pg). */
export type ByTarget = Record<string, Measurement | undefined>;

/** An exact accounting check: a fixed number of requests run to completion. */
export interface ExactCheck {
  name: string;
  sent: number;
  ok: number;
  recorded: number;
  tokens_expected: number;
  tokens_recorded: number;
}

/** PostgreSQL scale-out: the same load on one gateway process, then on two on one database. */
export interface ScaleOut {
  one: Measurement;
  two: Measurement;
  /** How the processes were placed on cores (on 2 cores they share them with everything else). */
  placement: string;
}

/** Everything a run measured. */
export interface RunResults {
  scenarios: Record<string, ByTarget>;
  soak: Record<string, SoakMeasurement | undefined>;
  exact: ExactCheck[];
  scaleOut?: ScaleOut;
}

/** One target line: pass, fail, or skip (null) with the numbers behind it. */
export interface Verdict {
  target: string;
  pass: boolean | null;
  detail: string;
}

const f = (n: number, d = 2) => n.toFixed(d);
const pct = (a: number, b: number) => `${f(a / b * 100, 1)} %`;

/** Issue 18's limits, as ratios or differences against `deno_floor` in the same run. */
export const LIMITS = {
  throughputSqlite: 0.6,
  throughputPg: 0.45,
  addedP50Ms: 0.15,
  addedP99Ms: 1,
  addedTtfcMs: 0.15,
  cpuPerChunkTimesFloor: 2,
  addedKbPerStream: 64,
  /** The fitted rise of RSS over the steady soak, as a share of its mean. */
  soakRiseShare: 0.05,
  /** The soak the issue asks for: shorter ones are reported, not judged. */
  soakSeconds: 60,
  scaleOut: 1.8,
} as const;

/** Scenarios judged for throughput against the floor (non-streamed, 32–64 connections). */
export const THROUGHPUT_SQLITE = [
  "chat_1key_c32",
  "chat_1key_c64",
  "chat_1000keys_c32",
  "chat_1000keys_c64",
  "openai_1key_c64",
  "openai_1000keys_c64",
];
/** The same on PostgreSQL (one gateway process). */
export const THROUGHPUT_PG = [
  "pg_chat_1key_c32",
  "pg_chat_1key_c64",
  "pg_chat_1000keys_c32",
  "pg_chat_1000keys_c64",
];

/** Judges every target of issue 18 (gateway against `deno_floor` in the same run). */
export function judge(r: RunResults): Verdict[] {
  const out: Verdict[] = [];
  const s = r.scenarios;
  for (
    const [ids, name, min] of [
      [THROUGHPUT_SQLITE, "gateway", LIMITS.throughputSqlite],
      [THROUGHPUT_PG, "gateway_pg", LIMITS.throughputPg],
    ] as const
  ) {
    for (const id of ids) {
      const fl = s[id]?.deno_floor, g = s[id]?.[name];
      if (!fl || !g) continue;
      out.push({
        target: `throughput ${id}: >= ${min * 100} % of the floor's req/s`,
        pass: g.rps / fl.rps >= min,
        detail: `${pct(g.rps, fl.rps)} (${f(g.rps, 0)} vs ${f(fl.rps, 0)} req/s; CPU ${
          f(g.cpu_us_per_req, 0)
        } vs ${f(fl.cpu_us_per_req, 0)} us/req)`,
      });
    }
  }
  for (const id of ["chat_1key_c1", "openai_1key_c1", "chat_1000keys_c1", "openai_1000keys_c1"]) {
    const fl = s[id]?.deno_floor, g = s[id]?.gateway;
    if (!fl || !g) continue;
    const a50 = g.p50_ms - fl.p50_ms, a99 = g.p99_ms - fl.p99_ms;
    out.push({
      target: `latency ${id}: p50 <= floor + ${LIMITS.addedP50Ms} ms`,
      pass: a50 <= LIMITS.addedP50Ms,
      detail: `+${f(a50, 3)} ms (${f(g.p50_ms, 3)} vs ${f(fl.p50_ms, 3)})`,
    });
    out.push({
      target: `latency ${id}: p99 <= floor + ${LIMITS.addedP99Ms} ms`,
      pass: a99 <= LIMITS.addedP99Ms,
      detail: `+${f(a99, 3)} ms (${f(g.p99_ms, 3)} vs ${f(fl.p99_ms, 3)})`,
    });
  }
  for (const id of ["chat_stream50_c1", "openai_stream50_usage_c1"]) {
    const fl = s[id]?.deno_floor?.ttfc, g = s[id]?.gateway?.ttfc;
    if (fl && g) {
      const added = g.ttfc_p50_ms - fl.ttfc_p50_ms;
      out.push({
        target: `ttfc ${id}: first chunk p50 <= floor + ${LIMITS.addedTtfcMs} ms`,
        pass: added <= LIMITS.addedTtfcMs,
        detail: `+${f(added, 3)} ms (${f(g.ttfc_p50_ms, 3)} vs ${f(fl.ttfc_p50_ms, 3)})`,
      });
    }
    const gm = s[id]?.gateway;
    if (!gm?.ttfc) continue;
    const p = gm.paced;
    out.push({
      target: `order ${id}: every chunk forwarded, once, in order, as it comes`,
      pass: gm.ttfc.bad_streams === 0 && !!p && p.bad_streams === 0 && p.min_reads > 1 &&
        p.min_spread_ms >= 50,
      detail:
        `${gm.ttfc.samples} streams, ${gm.ttfc.bad_streams} bad; paced (20 chunks, 5 ms apart): ${
          p?.bad_streams ?? "?"
        } bad, >= ${p?.min_reads ?? "?"} reads, spread >= ${f(p?.min_spread_ms ?? 0, 1)} ms`,
    });
  }
  const perChunk = (name: string) => {
    const a = s.chat_stream50_c64?.[name], b = s.chat_stream5_c64?.[name];
    return a && b ? (a.cpu_us_per_req - b.cpu_us_per_req) / 45 : null;
  };
  const gc = perChunk("gateway"), fc = perChunk("deno_floor");
  if (gc !== null && fc !== null) {
    out.push({
      target: `stream cpu: <= ${LIMITS.cpuPerChunkTimesFloor}x the floor's CPU per forwarded chunk`,
      pass: gc <= LIMITS.cpuPerChunkTimesFloor * fc,
      detail: `${f(gc / fc)}x (${f(gc)} vs ${f(fc)} us/chunk: 50- minus 5-chunk stream CPU / 45)`,
    });
  }
  const gs = r.soak.gateway, fs = r.soak.deno_floor;
  if (gs && fs) {
    const added = gs.per_stream_kb - fs.per_stream_kb;
    out.push({
      target:
        `memory: <= floor + ${LIMITS.addedKbPerStream} KB per open stream (${gs.streams} slow streams)`,
      pass: added <= LIMITS.addedKbPerStream,
      detail: `+${f(added, 1)} KB (${f(gs.per_stream_kb, 1)} vs ${
        f(fs.per_stream_kb, 1)
      } KB/stream: mean steady RSS ${f(gs.rss_mean_mb, 0)} MB over idle ${
        f(gs.rss_idle_mb, 0)
      } MB, floor ${f(fs.rss_mean_mb, 0)} over ${f(fs.rss_idle_mb, 0)})`,
    });
  }
  if (gs) {
    const rise = gs.slope_mb_per_min * gs.steady_seconds / 60;
    const judged = gs.seconds >= LIMITS.soakSeconds;
    out.push({
      target: `memory: no upward trend over a ${LIMITS.soakSeconds} s soak (fitted rise <= ${
        LIMITS.soakRiseShare * 100
      } % of mean RSS)`,
      pass: judged ? rise <= LIMITS.soakRiseShare * gs.rss_mean_mb : null,
      detail: `${gs.seconds} s soak${judged ? "" : " (too short to judge: --soak)"}: slope ${
        f(gs.slope_mb_per_min)
      } MB/min over ${f(gs.steady_seconds, 0)} s steady = ${f(rise, 1)} MB on a mean of ${
        f(gs.rss_mean_mb, 0)
      } MB (peak ${f(gs.peak_rss_mb, 0)})${
        fs ? `; floor ${f(fs.slope_mb_per_min)} MB/min on ${f(fs.rss_mean_mb, 0)} MB` : ""
      }`,
    });
  }
  if (r.scaleOut) {
    const { one, two, placement } = r.scaleOut;
    const exact = (m: Measurement) =>
      !!m.usage && m.usage.recorded >= m.usage.served &&
      m.usage.recorded <= m.usage.served + m.usage.tolerance;
    out.push({
      target:
        `postgres scale-out: two gateway processes >= ${LIMITS.scaleOut}x one's accounted req/s (100 keys), counters exact`,
      pass: two.rps / one.rps >= LIMITS.scaleOut && exact(one) && exact(two),
      detail: `${f(two.rps / one.rps)}x (${f(two.rps, 0)} vs ${f(one.rps, 0)} req/s; CPU ${
        f(two.cpu_us_per_req, 0)
      } vs ${
        f(one.cpu_us_per_req, 0)
      } us/req; recorded ${two.usage?.recorded} for ${two.usage?.served} served; ${placement})`,
    });
  }
  for (const [id, byTarget] of Object.entries(s)) {
    for (const [name, m] of Object.entries(byTarget)) {
      if (!m?.usage) continue;
      const u = m.usage;
      out.push({
        target:
          `usage ${id} (${name}): recorded requests = served (+ at most ${u.tolerance} cut off by wrk's deadline)`,
        pass: u.recorded >= u.served && u.recorded <= u.served + u.tolerance,
        detail: `served ${u.served}, recorded ${u.recorded}`,
      });
    }
  }
  for (const e of r.exact) {
    out.push({
      target: `exact ${e.name}: recorded requests and tokens = requests served`,
      pass: e.ok === e.sent && e.recorded === e.sent && e.tokens_recorded === e.tokens_expected,
      detail:
        `sent ${e.sent}, 200s ${e.ok}, recorded ${e.recorded}; tokens ${e.tokens_recorded} of ${e.tokens_expected}`,
    });
  }
  return out;
}
