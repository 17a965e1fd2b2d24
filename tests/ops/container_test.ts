/**
 * The Docker image, checked without a Docker engine: the Dockerfile's structure, that what it
 * copies exists and is everything the server loads, and that its files and command, run as the
 * container would run them, start a gateway that passes its own health check.
 * @module
 */
import assert from "node:assert/strict";
import { basename, dirname, join, relative } from "node:path";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import {
  envOf,
  execForm,
  instructions,
  parseCopy,
  parseDockerfile,
  type Stage,
} from "./dockerfile.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const stages = parseDockerfile(await Deno.readTextFile(join(ROOT, "Dockerfile")));
const runtime = stages.at(-1)!;
const ENTRY_POINTS = ["main.ts", "admin/cli.ts", "tools/healthcheck.ts"];

/** Sources copied from the build context (not from another stage), in stage order. */
function contextCopies(list: Stage[]): { sources: string[]; dest: string }[] {
  return list.flatMap((s) =>
    instructions(s, "COPY").map((i) => parseCopy(i.args))
      .filter((c) => !c.flags.some((f) => f.startsWith("--from")))
  );
}

/** The stages whose files end up in the runtime stage (what it copies /app from, and parents). */
function stagesBehindRuntime(): Stage[] {
  const byName = new Map(stages.filter((s) => s.name).map((s) => [s.name!, s]));
  const found: Stage[] = [];
  const visit = (name: string) => {
    const stage = byName.get(name);
    if (!stage || found.includes(stage)) return;
    found.unshift(stage);
    if (byName.has(stage.from)) visit(stage.from);
  };
  for (const i of instructions(runtime, "COPY")) {
    const from = parseCopy(i.args).flags.find((f) => f.startsWith("--from="));
    if (from) visit(from.slice("--from=".length));
  }
  return found;
}

function dockerignore(): string[] {
  return Deno.readTextFileSync(join(ROOT, ".dockerignore")).split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
}

/** Whether a .dockerignore pattern (`*` globs, no `!` exceptions) keeps `path` out. */
function ignored(path: string, patterns: string[]): boolean {
  if (patterns.some((p) => p.startsWith("!"))) throw new Error("! patterns are not checked");
  const segments = path.replace(/\/$/, "").split("/");
  return patterns.some((pattern) => {
    const glob = pattern.replace(/\/$/, "").replace(/[.+^$()|[\]\\{}?]/g, "\\$&");
    const re = new RegExp(`^${glob.replaceAll("*", "[^/]*")}$`);
    // A pattern that matches a folder keeps everything inside it out too.
    return segments.some((_, i) => re.test(segments.slice(0, i + 1).join("/")));
  });
}

/** Copies a file or a folder's contents the way COPY does. */
async function copyLikeDocker(source: string, dest: string, app: string): Promise<void> {
  const from = join(ROOT, source);
  if ((await Deno.stat(from)).isDirectory) {
    const target = join(app, dest);
    await Deno.mkdir(target, { recursive: true });
    for await (const entry of Deno.readDir(from)) {
      await copyLikeDocker(join(source, entry.name), join(dest, entry.name), app);
    }
    return;
  }
  const target = dest.endsWith("/") ? join(app, dest, basename(source)) : join(app, dest);
  await Deno.mkdir(dirname(target), { recursive: true });
  await Deno.copyFile(from, target);
}

/** The repository's local files that the entry points load (modules and text imports). */
async function localModules(): Promise<string[]> {
  const files = new Set<string>();
  for (const entry of ENTRY_POINTS) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout));
    for (const m of info.modules as Array<{ specifier: string; local?: string }>) {
      if (m.specifier.startsWith("file://")) {
        files.add(relative(ROOT, m.local ?? new URL(m.specifier).pathname));
      }
    }
  }
  return [...files];
}

Deno.test("the Dockerfile caches dependencies from the lock file in its own first stage", () => {
  assert.ok(stages.length >= 2, "multi-stage");
  const deps = stages[0];
  assert.ok(deps.name, "the dependency stage is named, so later stages build on it");
  const copied = contextCopies([deps]).flatMap((c) => c.sources);
  assert.deepEqual(copied.sort(), ["deno.json", "deno.lock"], "only the manifest and the lock");
  const install = instructions(deps, "RUN").map((r) => r.args).join("\n");
  assert.match(install, /deno install\b.*--frozen/);
});

Deno.test("the image runs on the official Deno image of the version the tests run on", () => {
  assert.equal(runtime.from, `denoland/deno:${Deno.version.deno}`);
  for (const s of stages) assert.match(s.from, /^denoland\/deno:|^[a-z]+$/, s.from);
});

Deno.test("the runtime stage runs as a non-root user, with /app/data as its volume", () => {
  const users = instructions(runtime, "USER");
  assert.equal(users.length, 1);
  assert.ok(!["root", "0", "0:0"].includes(users[0].args.trim()), users[0].args);
  assert.ok(instructions(runtime, "VOLUME").some((v) => v.args.includes("/app/data")));
  assert.match(envOf(runtime).DATABASE_URL, /^sqlite:\/\/\/\/app\/data\//);
  // The data folder must belong to that user, or SQLite cannot write there.
  const runs = instructions(runtime, "RUN").map((r) => r.args).join("\n");
  assert.match(runs, new RegExp(`chown [^\\n]*${users[0].args.trim()}[^\\n]* /app/data`));
});

Deno.test("the runtime stage exposes 8000 and 8001 and binds the admin to all interfaces", () => {
  const exposed = instructions(runtime, "EXPOSE").flatMap((e) => e.args.split(/\s+/));
  assert.deepEqual(exposed.sort(), ["8000", "8001"]);
  const env = envOf(runtime);
  assert.equal(env.ADMIN_HOST, "0.0.0.0");
  assert.equal(env.PROXY_PORT, "8000");
  assert.equal(env.ADMIN_PORT, "8001");
});

Deno.test("the runtime stage's HEALTHCHECK runs the health-check script against /healthz", async () => {
  const checks = instructions(runtime, "HEALTHCHECK");
  assert.equal(checks.length, 1);
  const command = execForm(checks[0].args);
  assert.equal(command[0], "deno");
  assert.ok(command.includes("tools/healthcheck.ts"));
  const script = await Deno.readTextFile(join(ROOT, "tools/healthcheck.ts"));
  assert.match(script, /\/healthz/);
});

Deno.test("every path the Dockerfile copies exists and is not kept out by .dockerignore", async () => {
  const patterns = dockerignore();
  for (const { sources } of contextCopies(stages)) {
    for (const source of sources) {
      await Deno.stat(join(ROOT, source)).catch(() => {
        throw new Error(`Dockerfile copies ${source}, which does not exist`);
      });
      assert.ok(!ignored(source, patterns), `${source} is excluded by .dockerignore`);
    }
  }
});

Deno.test(".dockerignore keeps secrets, data, test output and .git out of the build", () => {
  const patterns = dockerignore();
  for (const path of [".env", ".env.local", "data", "data/llm-quota.db", "test-output", ".git"]) {
    assert.ok(ignored(path, patterns), `${path} would be sent to the Docker build`);
  }
});

Deno.test("the image holds every module the server, the key CLI and the health check load", async () => {
  const copied = stagesBehindRuntime().flatMap((s) => contextCopies([s]).flatMap((c) => c.sources))
    .map((s) => s.replace(/\/$/, ""));
  const missing = (await localModules()).filter((file) =>
    !copied.some((c) => file === c || file.startsWith(c + "/"))
  );
  assert.deepEqual(missing, [], "loaded but not copied into the image");
});

Deno.test("deno.lock matches deno.json (deno install --frozen accepts it)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["install", "--frozen"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
});

Deno.test("the image's files and command start a gateway that passes its own health check", async () => {
  // /app of the image, laid out from the Dockerfile's COPY lines.
  const app = await Deno.makeTempDir({ prefix: "llm-quota-image-" });
  const mock = await startMockOllama();
  for (const { sources, dest } of contextCopies(stagesBehindRuntime())) {
    for (const source of sources) await copyLikeDocker(source, dest, app);
  }
  await Deno.mkdir(join(app, "data"));
  const inImage = (s: string) => s.replaceAll("/app/", `${app}/`);
  const free = () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    return String(port);
  };
  const env = {
    ...Object.fromEntries(Object.entries(envOf(runtime)).map(([k, v]) => [k, inImage(v)])),
    // The test machine's Deno cache stands in for the image's /deno-dir.
    DENO_DIR: Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache/deno"),
    ADMIN_PASSWORD,
    OLLAMA_URL: mock.url,
    PROXY_PORT: free(),
    ADMIN_PORT: free(),
    NO_COLOR: "1",
  };
  const cmd = execForm(instructions(runtime, "CMD")[0].args).map(inImage);
  const server = new Deno.Command(Deno.execPath(), {
    args: cmd, // the official image's entrypoint hands "run …" to deno
    cwd: app,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
  };
  const collecting = Promise.all([collect(server.stdout), collect(server.stderr)]);
  try {
    for (let i = 0; i < 400 && !/logs: level/.test(output); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(output, /proxy listening on http:\/\/0\.0\.0\.0:\d+/, output);
    assert.match(output, /admin listening on http:\/\/0\.0\.0\.0:\d+/, output);
    assert.match(output, /WARNING: ADMIN_HOST=0\.0\.0\.0/, "the container warns about 8001");

    const healthcheck = execForm(instructions(runtime, "HEALTHCHECK")[0].args);
    const check = await new Deno.Command(Deno.execPath(), {
      args: healthcheck.slice(1).map(inImage),
      cwd: app,
      env: { PROXY_PORT: env.PROXY_PORT, NO_COLOR: "1" },
    }).output();
    assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));

    const ready = await fetch(`http://127.0.0.1:${env.PROXY_PORT}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    const login = await fetch(`http://127.0.0.1:${env.ADMIN_PORT}/login`);
    assert.equal(login.status, 200, "the admin UI and its files are in the image");
    await login.body?.cancel();
    assert.ok((await Deno.stat(join(app, "data", "llm-quota.db"))).isFile);
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await collecting;
    await mock.close();
    await Deno.remove(app, { recursive: true });
  }
});

Deno.test("the health-check script fails when the gateway does not answer", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", "--allow-env=PROXY_PORT", "tools/healthcheck.ts"],
    cwd: ROOT,
    env: { PROXY_PORT: String(port), NO_COLOR: "1" },
  }).output();
  assert.equal(out.code, 1);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.match(
    stderr,
    new RegExp(`health check failed: GET http://127\\.0\\.0\\.1:${port}/healthz failed: `),
  );
  assert.match(stderr, /refused/i, "it says why, not only that it failed");
});

Deno.test("the health-check script names the status of a gateway that answers but is not healthy", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("stopping", { status: 503 }),
  );
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "tools/healthcheck.ts",
        `http://127.0.0.1:${server.addr.port}/healthz`,
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(out.code, 1);
    assert.match(new TextDecoder().decode(out.stderr), /answered 503, not 200/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("compose.yaml runs the gateway with PostgreSQL, the admin port on loopback only", async () => {
  const compose = await Deno.readTextFile(join(ROOT, "compose.yaml"));
  assert.match(compose, /^services:\n {2}gateway:\n {4}build: \.$/m);
  assert.match(compose, /^ {2}postgres:\n {4}image: postgres:/m);
  assert.match(compose, /DATABASE_URL: postgres:\/\/.+@postgres:5432\//);
  assert.match(compose, /condition: service_healthy/);
  assert.match(compose, /- "127\.0\.0\.1:8001:8001"/);
  assert.doesNotMatch(compose, /- "(0\.0\.0\.0:)?8001:8001"/, "8001 is never published openly");
  assert.match(compose, /^ {2}# ollama:\n/m, "an Ollama service, commented, for GPU hosts");
});
