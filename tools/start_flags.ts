/**
 * The V8 flags the gateway is started with, read from `deno task start` in deno.json, so the
 * benchmarks and the consistency test use the one place where they are decided.
 * @module
 */

const DENO_JSON = new URL("../deno.json", import.meta.url);

/** The tasks of deno.json by name. */
export async function denoTasks(): Promise<Record<string, string>> {
  return JSON.parse(await Deno.readTextFile(DENO_JSON)).tasks;
}

/** The values of every `--v8-flags=` argument in a command line, in order. */
export function v8FlagsIn(args: string[]): string[] {
  return args.filter((a) => a.startsWith("--v8-flags=")).map((a) => a.slice("--v8-flags=".length));
}

/** The `--v8-flags=` value of `deno task start` (null when it sets none). */
export async function startV8Flags(): Promise<string | null> {
  const flags = v8FlagsIn((await denoTasks()).start.trim().split(/\s+/));
  return flags.length === 0 ? null : flags.join(",");
}
