/**
 * Issue 7's targets, judged from one run's measurements (ratios within the same run).
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

/** Everything a run measured. */
export interface RunResults {
  scenarios: Record<string, ByTarget>;
  soak: Record<string, SoakMeasurement | undefined>;
  exact: ExactCheck[];
}

/** One target line: pass, fail, or skip (null) with the numbers behind it. */
export interface Verdict {
  target: string;
  pass: boolean | null;
  detail: string;
}

const f = (n: number, d = 2) => n.toFixed(d);

/** Judges every target of the issue. */
export function judge(r: RunResults): Verdict[] {
  const out: Verdict[] = [];
  const s = r.scenarios;
  for (const id of ["chat_1key_c1", "openai_1key_c1", "chat_1000keys_c1", "openai_1000keys_c1"]) {
    const d = s[id]?.direct, g = s[id]?.gateway;
    if (!d || !g) continue;
    const a50 = g.p50_ms - d.p50_ms, a99 = g.p99_ms - d.p99_ms;
    out.push({
      target: `latency ${id}: added p50 <= 0.3 ms, p99 <= 1 ms`,
      pass: a50 <= 0.3 && a99 <= 1,
      detail: `added p50 ${f(a50, 3)} ms, p99 ${f(a99, 3)} ms`,
    });
  }
  for (const id of ["chat_stream50_c1", "openai_stream50_usage_c1"]) {
    const d = s[id]?.direct?.ttfc, g = s[id]?.gateway?.ttfc;
    if (!d || !g) continue;
    const added = g.ttfc_p50_ms - d.ttfc_p50_ms;
    out.push({
      target: `ttfc ${id}: added time to first chunk p50 <= 0.3 ms`,
      pass: added <= 0.3,
      detail: `added ${f(added, 3)} ms (direct ${f(d.ttfc_p50_ms, 3)}, gateway ${
        f(g.ttfc_p50_ms, 3)
      })`,
    });
    const p = s[id]?.gateway?.paced;
    out.push({
      target: `order ${id}: every chunk forwarded, once, in order, as it comes`,
      pass: g.bad_streams === 0 && !!p && p.bad_streams === 0 && p.min_reads > 1 &&
        p.min_spread_ms >= 50,
      detail: `${g.samples} streams, ${g.bad_streams} bad; paced (20 chunks, 5 ms apart): ${
        p?.bad_streams ?? "?"
      } bad, >= ${p?.min_reads ?? "?"} reads, spread >= ${f(p?.min_spread_ms ?? 0, 1)} ms`,
    });
  }
  const s50 = s.chat_stream50_c64?.gateway, s5 = s.chat_stream5_c64?.gateway;
  if (s50 && s5) {
    const perChunk = (s50.cpu_us_per_req - s5.cpu_us_per_req) / 45;
    out.push({
      target: "stream cpu: <= 5 us of CPU per forwarded chunk",
      pass: perChunk <= 5,
      detail: `${f(perChunk)} us/chunk ((${f(s50.cpu_us_per_req, 0)} - ${
        f(s5.cpu_us_per_req, 0)
      }) us / 45 chunks)`,
    });
  }
  for (
    const id of [
      "chat_1key_c64",
      "chat_1000keys_c64",
      "openai_1key_c64",
      "openai_1000keys_c64",
    ]
  ) {
    const n = s[id]?.nginx, g = s[id]?.gateway;
    if (!g) continue;
    out.push({
      target: `throughput ${id}: >= 50 % of nginx req/s`,
      pass: n ? g.rps / n.rps >= 0.5 : null,
      detail: n
        ? `${f(g.rps / n.rps * 100, 1)} % (${f(g.rps, 0)} vs ${f(n.rps, 0)} req/s)`
        : "nginx not installed",
    });
    out.push({
      target: `cpu ${id}: <= 80 us CPU per accounted request`,
      pass: g.cpu_us_per_req <= 80,
      detail: `${f(g.cpu_us_per_req, 1)} us/request`,
    });
  }
  const soak = r.soak.gateway;
  if (soak) {
    out.push({
      target: "memory: RSS <= 100 MB with 1,000 concurrent streams",
      pass: soak.peak_rss_mb <= 100,
      detail: `peak ${f(soak.peak_rss_mb, 1)} MB`,
    });
    out.push({
      target: `memory: RSS growth <= 5 % over the soak (${soak.seconds} s)`,
      pass: soak.growth_pct <= 5,
      detail: `${f(soak.rss_start_mb, 1)} -> ${f(soak.rss_end_mb, 1)} MB (${
        f(soak.growth_pct, 1)
      } %)`,
    });
  }
  for (const [id, min] of [["pg_chat_1key_c64", 2000], ["pg_chat_100keys_c64", 4000]] as const) {
    const g = s[id]?.gateway_pg;
    if (!g) continue;
    out.push({
      target: `postgres ${id}: >= ${min} accounted req/s`,
      pass: g.rps >= min,
      detail: `${f(g.rps, 0)} req/s`,
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
