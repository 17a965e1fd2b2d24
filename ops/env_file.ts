/**
 * `.env` for the deno tasks, loaded only when it exists. Deno's own `--env-file` prints a
 * warning when the file is missing, which is the normal case on a first run and in production;
 * so the tasks name the file in LLMQ_ENV_FILE instead, and the entry points load it here.
 * Entry points run any other way (tests, the compiled binary, the container) load nothing.
 * @module
 */
import { parseEnv } from "node:util";
import { ConfigError } from "../core/config.ts";

/** The variable through which a task names the file to load. */
export const ENV_FILE_VARIABLE = "LLMQ_ENV_FILE";

/**
 * Loads the file named by LLMQ_ENV_FILE into the environment when the file exists, in the
 * dotenv syntax (`NAME=value`, quotes, `#` comments, `export`), without `${…}` expansion.
 * Variables already set win, as with `--env-file`. Returns the path loaded, or null.
 */
export function loadEnvFile(env: Deno.Env = Deno.env): string | null {
  const path = env.get(ENV_FILE_VARIABLE);
  if (!path) return null;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null; // no .env: the environment alone
    throw new ConfigError(`Cannot start: cannot read ${path}: ${(err as Error).message}`);
  }
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env.get(name) === undefined && value !== undefined) env.set(name, value);
  }
  return path;
}
