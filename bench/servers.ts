/**
 * The three things under test: the mock upstream, the gateway (main.ts as its own process) and
 * Debian's nginx as a plain reverse proxy to the same mock.
 * @module
 */
import { startV8Flags } from "../tools/start_flags.ts";
import { childrenOf, pinned, type ServerProc, spawnLogged, waitForLog } from "./procs.ts";

const here = (p: string) => new URL(p, import.meta.url).pathname;

/** Password of the benchmark gateway's admin API. */
export const BENCH_ADMIN_PASSWORD = "bench-admin-password-not-secret";

/**
 * The V8 flags a benchmark gateway runs with: `deno task start`'s, or BENCH_GATEWAY_V8_FLAGS for
 * an experiment ("none": V8's defaults, returned as null).
 */
export async function gatewayV8Flags(): Promise<string | null> {
  const flags = Deno.env.get("BENCH_GATEWAY_V8_FLAGS") ?? await startV8Flags();
  return flags && flags !== "none" ? flags : null;
}

/** A started server with the URL clients use. */
export interface Target {
  proc: ServerProc;
  url: string;
}

/** Starts the mock upstream. */
export async function startMock(dir: string, cores: string | null): Promise<Target> {
  const log = `${dir}/mock.log`;
  const proc = spawnLogged(
    "mock",
    pinned([Deno.execPath(), "run", "--allow-net", "--allow-env", here("mock_upstream.ts")], cores),
    log,
    { PORT: "0", NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "" },
  );
  const url = await waitForLog(log, /mock listening on (\S+)/);
  return { proc, url: url! };
}

/** Starts bench/floor_proxy.ts: the least a Deno reverse proxy does, in front of the mock. */
export async function startFloor(
  dir: string,
  upstreamUrl: string,
  cores: string | null,
  /** Names its log file (a second floor in one run needs its own). */
  name = "floor",
  /** The program (bench/floor_memory.ts: the floor sampling its memory). */
  script = here("floor_proxy.ts"),
): Promise<Target> {
  const log = `${dir}/${name}.log`;
  const proc = spawnLogged(
    name,
    pinned([Deno.execPath(), "run", "--allow-net", "--allow-env", script], cores),
    log,
    { PORT: "0", UPSTREAM: upstreamUrl, NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "" },
  );
  const url = await waitForLog(log, /floor listening on (\S+)/);
  return { proc, url: url! };
}

/** The gateway with its admin URL. */
export interface GatewayTarget extends Target {
  adminUrl: string;
}

/** Starts main.ts with `databaseUrl`, pointed at `ollamaUrl`; `profileDir` adds --cpu-prof. */
export async function startGateway(
  dir: string,
  name: string,
  databaseUrl: string,
  ollamaUrl: string,
  cores: string | null,
  profileDir: string | null,
  /** Another source tree's main.ts (bench/ab.ts compares two). */
  main: string = here("../main.ts"),
  /** More `deno run` flags (bench/heap.ts: --inspect). */
  flags: string[] = [],
  /** A program that runs deno (bench/callgrind.ts: valgrind and its flags). */
  wrapper: string[] = [],
  /** How long to wait for it to listen (ms). */
  startTimeoutMs = 60_000,
): Promise<GatewayTarget> {
  const log = `${dir}/${name}.log`;
  const prof = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const v8 = await gatewayV8Flags();
  if (v8) prof.push(`--v8-flags=${v8}`);
  const argv = [
    ...wrapper,
    Deno.execPath(),
    "run",
    ...prof,
    ...flags,
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-write",
    "--allow-sys",
    main,
  ];
  const proc = spawnLogged(name, pinned(argv, cores), log, {
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "/root",
    DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
    // bench/heap.ts: where bench/heap_gateway.ts writes its snapshots.
    ...(Deno.env.has("HEAP_DIR") ? { HEAP_DIR: Deno.env.get("HEAP_DIR")! } : {}),
    ADMIN_PASSWORD: BENCH_ADMIN_PASSWORD,
    PROXY_HOST: "127.0.0.1",
    PROXY_PORT: "0",
    ADMIN_PORT: "0",
    NO_COLOR: "1",
    DATABASE_URL: databaseUrl,
    OLLAMA_URL: ollamaUrl,
    DEFAULT_MODEL: "bench-c50-d0",
    DB_POOL_SIZE: "10",
  });
  const url = await waitForLog(log, /proxy listening on (\S+)/, startTimeoutMs);
  const adminUrl = await waitForLog(log, /admin listening on (\S+)/, startTimeoutMs);
  return { proc, url: url!, adminUrl: adminUrl! };
}

function nginxConfig(dir: string, upstreamPort: string): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx_error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx_tmp;
  proxy_temp_path ${dir}/nginx_tmp;
  upstream mock { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server {
    listen 127.0.0.1:0;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`;
}

/** Starts nginx (one worker) as a reverse proxy to `upstreamUrl`; null when not installed. */
export async function startNginx(
  dir: string,
  upstreamUrl: string,
  cores: string | null,
): Promise<Target | null> {
  const bin = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (!bin) return null;
  const port = freePort();
  const conf = `${dir}/nginx.conf`;
  await Deno.mkdir(`${dir}/nginx_tmp`, { recursive: true });
  const upstreamPort = new URL(upstreamUrl).port;
  await Deno.writeTextFile(
    conf,
    nginxConfig(dir, upstreamPort).replace("127.0.0.1:0", `127.0.0.1:${port}`),
  );
  const log = `${dir}/nginx.log`;
  const base = spawnLogged(
    "nginx",
    pinned(
      [bin, "-e", `${dir}/nginx_error.log`, "-c", conf, "-p", dir, "-g", "daemon off;"],
      cores,
    ),
    log,
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url + "/");
      await res.body?.cancel();
      if (res.ok) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  const proc: ServerProc = { ...base, pids: () => [base.pid, ...childrenOf(base.pid)] };
  return { proc, url };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
