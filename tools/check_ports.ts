/**
 * First step of `deno task dev`: exits 1 with a message naming the port and the variable that
 * moves it when a port is taken, instead of a stack trace from the file watcher.
 * @module
 */
import { ConfigError, parseConfig } from "../core/config.ts";
import { loadEnvFile } from "../ops/env_file.ts";
import { portProblems } from "./port_check.ts";

if (import.meta.main) {
  try {
    loadEnvFile();
    const problems = portProblems(parseConfig(Deno.env.toObject()));
    for (const p of problems) console.error(p);
    if (problems.length > 0) Deno.exit(1);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    Deno.exit(1);
  }
}
