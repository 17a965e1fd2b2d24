/**
 * Child processes for the benchmark: spawned pinned to a core (when `taskset` exists) with their
 * output in a log file, and read from /proc (CPU ticks, peak and current RSS).
 * @module
 */

/** A server process the benchmark started. */
export interface ServerProc {
  name: string;
  pid: number;
  log: string;
  /** Pids whose CPU and memory count for this server (nginx: master and workers). */
  pids(): number[];
  stop(): Promise<void>;
}

/** Whether `name` is an executable on PATH. */
export async function hasCommand(name: string): Promise<boolean> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `command -v ${name}`],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

/** Prefixes `argv` with `taskset -c <cores>` when taskset exists and cores is set. */
export function pinned(argv: string[], cores: string | null): string[] {
  return cores ? ["taskset", "-c", cores, ...argv] : argv;
}

/** Starts `argv` with its output in `log`; the returned pid is the program's own (exec). */
export function spawnLogged(
  name: string,
  argv: string[],
  log: string,
  env: Record<string, string> = {},
): ServerProc {
  const child = new Deno.Command("sh", {
    args: ["-c", `exec "$@" >"${log}" 2>&1`, "sh", ...argv],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    name,
    pid: child.pid,
    log,
    pids: () => [child.pid],
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 15_000);
      await child.status;
      clearTimeout(timer);
    },
  };
}

/** Waits until `pattern` appears in the log file; returns its first capture group. */
export async function waitForLog(log: string, pattern: RegExp, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await Deno.readTextFile(log).catch(() => "");
    const m = pattern.exec(text);
    if (m) return m[1];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${pattern} in ${log}:\n${await Deno.readTextFile(log)}`);
}

const TICKS_PER_SECOND = 100;

/** utime+stime of a process (all its threads) in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of proc(5); the slice starts at field 3.
  return (Number(fields[11]) + Number(fields[12])) * 1e6 / TICKS_PER_SECOND;
}

/** A `Vm…` line of /proc/<pid>/status in kB. */
function statusKb(pid: number, field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(
    Deno.readTextFileSync(`/proc/${pid}/status`),
  );
  return m ? Number(m[1]) : 0;
}

/** Summed CPU µs of several pids. */
export function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
}

/** Summed peak RSS (VmHWM) of several pids, in MB. */
export function peakRssMb(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + statusKb(pid, "VmHWM"), 0) / 1024;
}

/** Summed current RSS of several pids, in MB. */
export function rssMb(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + statusKb(pid, "VmRSS"), 0) / 1024;
}

/** Resets VmHWM to the current RSS (`clear_refs` 5), so each scenario has its own peak. */
export function resetPeak(pids: number[]): void {
  for (const pid of pids) {
    try {
      Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
    } catch { /* not permitted: the peak then covers the process's life so far */ }
  }
}

/** Direct children of a pid (nginx workers). */
export function childrenOf(pid: number): number[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
      .filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
