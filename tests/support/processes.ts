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
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<number>;
  /** Kills the process at once (SIGKILL), as a crash would. */
  kill(): void;
}

/** Starts `main.ts` in a child process with `env` and waits until both listeners are up. */
export async function spawnGateway(env: Record<string, string>): Promise<GatewayProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-sys",
      MAIN,
    ],
    env: {
      ADMIN_PASSWORD,
      PROXY_HOST: "127.0.0.1",
      PROXY_PORT: "0",
      ADMIN_PORT: "0",
      NO_COLOR: "1",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const collecting = Promise.all([collect(child.stdout), collect(child.stderr)]);
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
