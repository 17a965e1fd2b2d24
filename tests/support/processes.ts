/**
 * Gateways as separate OS processes (`deno run main.ts`), for tests that need several instances.
 * @module
 */
import { ADMIN_PASSWORD } from "./gateway.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A gateway running in its own process. */
export interface GatewayProcess {
  proxyUrl: string;
  adminUrl: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** What it wrote to stdout alone, and to stderr alone. */
  stdout(): string;
  stderr(): string;
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<number>;
  /** Kills the process at once (SIGKILL), as a crash would. */
  kill(): void;
}

/** How a gateway process is started. */
export interface SpawnOptions {
  /** Runs it under `ulimit -n` with this many open files (soft and hard: Deno cannot raise it). */
  openFileLimit?: number;
}

/** The environment every test gateway process starts from, `env` on top. */
function gatewayEnv(env: Record<string, string>): Record<string, string> {
  return {
    ADMIN_PASSWORD,
    PROXY_HOST: "127.0.0.1",
    PROXY_PORT: "0",
    ADMIN_PORT: "0",
    NO_COLOR: "1",
    ...env,
  };
}

/** `deno run` with the permissions of `deno task start` (no .env file). */
const RUN_MAIN = [
  "run",
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-sys",
  MAIN,
];

/** Runs `main.ts` expecting it to stop by itself (it cannot start): its exit code and output. */
export async function runGatewayToExit(
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: RUN_MAIN,
    env: gatewayEnv(env),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Starts `main.ts` in a child process with `env` and waits until both listeners are up. */
export async function spawnGateway(
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<GatewayProcess> {
  const deno = [Deno.execPath(), ...RUN_MAIN];
  const [command, ...args] = options.openFileLimit === undefined
    ? deno
    // `exec`: the signals stop() sends reach the gateway itself, not a shell around it.
    : ["bash", "-c", `ulimit -n ${options.openFileLimit} && exec "$@"`, "bash", ...deno];
  const child = new Deno.Command(command, {
    args,
    env: gatewayEnv(env),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const separate = { stdout: "", stderr: "" };
  const collect = async (stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr") => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      separate[name] += chunk;
    }
  };
  const collecting = Promise.all([
    collect(child.stdout, "stdout"),
    collect(child.stderr, "stderr"),
  ]);
  const deadline = Date.now() + 30_000;
  let proxyUrl: string | undefined, adminUrl: string | undefined;
  while (!(proxyUrl && adminUrl)) {
    // The readable start-up report, or its LOG_FORMAT=json line.
    proxyUrl = /proxy listening on (\S+)/.exec(text)?.[1] ?? /"proxy":"([^"]+)"/.exec(text)?.[1];
    adminUrl = /admin listening on (\S+)/.exec(text)?.[1] ?? /"admin":"([^"]+)"/.exec(text)?.[1];
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`gateway process did not start:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proxyUrl,
    adminUrl,
    output: () => text,
    stdout: () => separate.stdout,
    stderr: () => separate.stderr,
    kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const status = await child.status;
      await collecting;
      return status.code;
    },
  };
}
