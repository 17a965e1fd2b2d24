/**
 * Writes a run's results: `bench/results/latest.json` (everything) and `latest.md` (the tables).
 * @module
 */
import type { Measurement } from "./measure.ts";
import type { RunResults, Verdict } from "./targets.ts";

/** Facts about the run printed above the tables. */
export interface RunInfo {
  date: string;
  seconds: number;
  soakSeconds: number;
  cores: string;
  nginx: boolean;
  pg: boolean;
  profiled: boolean;
  deno: string;
  /** /proc/loadavg at the start and the end: how busy the shared machine was. */
  load?: string;
}

const n = (x: number | undefined, d = 2) => x === undefined ? "–" : x.toFixed(d);
const ratio = (a: number | undefined, b: number | undefined, d = 2) =>
  a === undefined || b === undefined || b === 0 ? "–" : (a / b).toFixed(d);

function row(id: string, name: string, m: Measurement, d?: Measurement, x?: Measurement): string {
  return `| ${id} | ${name} | ${n(m.rps, 0)} | ${n(m.p50_ms, 3)} | ${n(m.p99_ms, 3)} | ${
    n(m.ttfc?.ttfc_p50_ms, 3)
  } | ${n(m.cpu_us_per_req, 1)} | ${n(m.peak_rss_mb, 1)} | ${m.errors} | ${
    ratio(m.rps, d?.rps)
  } | ${ratio(m.rps, x?.rps)} | ${d ? n(m.p50_ms - d.p50_ms, 3) : "–"} | ${
    x ? n(m.p50_ms - x.p50_ms, 3) : "–"
  } | ${m.db?.admit ? `${n(m.db.admit.mean_ms, 3)} + ${n(m.db.settle?.mean_ms, 3)}` : "–"} |`;
}

/** The markdown report. */
export function markdown(info: RunInfo, r: RunResults, verdicts: Verdict[]): string {
  const lines = [
    "# Benchmark results (latest run)",
    "",
    `Run ${info.date} with \`deno task bench${
      info.pg ? " --pg" : ""
    }\` (${info.deno}): ${info.seconds} s per scenario, soak ${info.soakSeconds} s, ${info.cores}; nginx ${
      info.nginx ? "measured" : "not installed (no nginx ratios)"
    }${info.profiled ? "; gateway run under --cpu-prof (numbers perturbed)" : ""}${
      info.load ? `; load average ${info.load}` : ""
    }. See bench/README.md for what each number means.`,
    "",
    "## Targets",
    "",
    "| | target | measured |",
    "| --- | --- | --- |",
    ...verdicts.map((v) =>
      `| ${v.pass === null ? "SKIP" : v.pass ? "PASS" : "FAIL"} | ${v.target} | ${v.detail} |`
    ),
    "",
    "## Scenarios",
    "",
    "req/s counts successful answers; p50/p99 are wrk's full-response latency; TTFC is the probe's time to first body chunk (1-connection streams); CPU is utime+stime of the server process(es) per request (direct: the mock's own); RSS is the peak (VmHWM) during the scenario. Ratios are req/s against direct and (gateways) against deno_floor; Δp50 is added p50 latency in ms; admit + settle is the mean wall time of one admission and one settlement store call (the gateway's llmq_db_duration_seconds), the database path's share of a request.",
    "",
    "| scenario | target | req/s | p50 ms | p99 ms | TTFC p50 ms | CPU µs/req | peak RSS MB | errors | ×direct | ×floor | Δp50 direct | Δp50 floor | admit + settle ms |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const [id, t] of Object.entries(r.scenarios)) {
    for (const [name, m] of Object.entries(t)) {
      if (m) {
        lines.push(
          row(
            id,
            name,
            m,
            name === "direct" ? undefined : t.direct,
            name.startsWith("gateway") ? t.deno_floor : undefined,
          ),
        );
      }
    }
  }
  lines.push("", "## Soak (1,000 concurrent slow streams)", "");
  lines.push(
    "Idle RSS is sampled before the soak; the steady part starts once every connection ran one whole stream. Per stream: (steady mean − idle) / streams. Slope: least squares over the steady samples.",
    "",
    "| target | streams/s | idle RSS MB | steady mean MB | peak RSS MB | KB/stream | slope MB/min | steady s | CPU µs/stream | errors |",
  );
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const [name, m] of Object.entries(r.soak)) {
    if (!m) continue;
    lines.push(
      `| ${name} | ${n(m.rps, 0)} | ${n(m.rss_idle_mb, 1)} | ${n(m.rss_mean_mb, 1)} | ${
        n(m.peak_rss_mb, 1)
      } | ${n(m.per_stream_kb, 1)} | ${n(m.slope_mb_per_min)} | ${n(m.steady_seconds, 0)} | ${
        n(m.cpu_us_per_req, 0)
      } | ${m.errors} |`,
    );
  }
  if (r.scaleOut) {
    const { one, two, placement } = r.scaleOut;
    lines.push("", "## PostgreSQL scale-out (100 keys, 64 connections)", "", placement, "");
    lines.push("| processes | req/s | p99 ms | CPU µs/req (all gateways) | served | recorded |");
    lines.push("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (const [k, m] of [["one", one], ["two", two]] as const) {
      lines.push(
        `| ${k} | ${n(m.rps, 0)} | ${n(m.p99_ms, 3)} | ${n(m.cpu_us_per_req, 0)} | ${
          m.usage?.served ?? "–"
        } | ${m.usage?.recorded ?? "–"} |`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** Writes latest.json and latest.md next to this module. */
export async function writeResults(info: RunInfo, r: RunResults, verdicts: Verdict[]) {
  const dir = new URL("./results/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}latest.json`,
    JSON.stringify({ info, ...r, verdicts }, null, 2) + "\n",
  );
  await Deno.writeTextFile(`${dir}latest.md`, markdown(info, r, verdicts));
}
