/**
 * First step of `deno task dev`: exits 1 with a message naming the listener, the port and the
 * variable that moves it when a port is taken, instead of a stack trace from the file watcher.
 * @module
 */
import { ConfigError, parseConfig } from "../core/config.ts";
import { loadEnvFile } from "../ops/env_file.ts";
import { portProblems } from "../ops/port_check.ts";
import { cannotStart, formatFromEnv } from "../ops/process_log.ts";

if (import.meta.main) {
  loadEnvFile();
  const env = Deno.env.toObject();
  const format = formatFromEnv(env);
  try {
    const problems = portProblems(parseConfig(env));
    for (const p of problems) cannotStart(format, p);
    if (problems.length > 0) Deno.exit(1);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    cannotStart(format, err.message);
    Deno.exit(1);
  }
}
