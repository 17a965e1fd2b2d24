/**
 * Runs `wrk` (Debian's package) in its own process, pinned to the load core, and reads the JSON
 * summary that wrk_script.lua prints.
 * @module
 */
import { pinned } from "./procs.ts";

/** What wrk measured. */
export interface WrkResult {
  requests: number;
  duration_us: number;
  connect_errors: number;
  read_errors: number;
  write_errors: number;
  status_errors: number;
  timeouts: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
}

/** One wrk run. */
export interface WrkRun {
  url: string;
  path: string;
  bodyFile: string;
  keysFile: string | null;
  connections: number;
  seconds: number;
  cores: string | null;
}

const SCRIPT = new URL("./wrk_script.lua", import.meta.url).pathname;

/** Runs wrk once and returns its summary. */
export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const argv = pinned([
    "wrk",
    "-t",
    "1",
    "-c",
    String(run.connections),
    "-d",
    `${run.seconds}s`,
    "--timeout",
    "30s",
    "-s",
    SCRIPT,
    run.url + run.path,
  ], run.cores);
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: {
      BENCH_PATH: run.path,
      BENCH_BODY_FILE: run.bodyFile,
      BENCH_KEYS_FILE: run.keysFile ?? "",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = /BENCH_JSON (\{.*\})/.exec(text);
  if (!out.success || !line) {
    throw new Error(`wrk failed: ${text}\n${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(line[1]);
}
