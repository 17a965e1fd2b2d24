/**
 * `.env` is optional for the deno tasks: `deno task start`, `dev` and `key` load it when it
 * exists and say nothing when it does not (Deno's own --env-file printed a warning), and the
 * README's first command works as written on a fresh checkout. The tasks run in a copy of the
 * project in a temporary directory, so a developer's own `.env` is never read or touched.
 * @module
 */
import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { dirname, join } from "node:path";
import { ConfigError } from "../../core/config.ts";
import { ENV_FILE_VARIABLE, loadEnvFile } from "../../ops/env_file.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** What the tasks need of the project (as the Dockerfile copies it, plus the task file). */
const PROJECT = [
  "deno.json",
  "deno.lock",
  "main.ts",
  "admin",
  "core",
  "db",
  "ops",
  "proxy",
  "views",
  "static",
  "tools",
];

/** A fresh checkout of the project: no .env, no data. */
async function freshCopy(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "llm-quota-first-run-" });
  for (const entry of PROJECT) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  return dir;
}

/** A clean environment: none of the test runner's variables (ADMIN_PASSWORD, …) leak in. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const keep = ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"];
  const env: Record<string, string> = {
    // `deno` on the PATH is this very Deno, as on a machine that has it installed.
    PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`,
    NO_COLOR: "1",
  };
  for (const name of keep) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

async function sh(dir: string, line: string, env: Record<string, string>) {
  const out = await new Deno.Command("sh", {
    args: ["-c", line],
    cwd: dir,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** The README's first shell block, one command per line, comments dropped. */
async function readmeFirstCommands(): Promise<string[]> {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const block = /```sh\n([\s\S]*?)```/.exec(readme)![1];
  return block.split("\n").map((l) => l.replace(/\s+#\s.*$/, "").trim()).filter(Boolean);
}

/**
 * Runs a task line (`deno task start`) in `dir` on free ports until the admin listens, checks
 * that nothing warned about .env, runs `fn` with the admin URL, and stops it with SIGTERM.
 */
async function whileRunning(
  dir: string,
  line: string,
  env: Record<string, string>,
  fn: (adminUrl: string, output: string) => Promise<void>,
): Promise<void> {
  const child = new Deno.Command("sh", {
    args: ["-c", `exec ${line}`],
    cwd: dir,
    env: cleanEnv({ PROXY_PORT: "0", ADMIN_PORT: "0", OLLAMA_URL: "http://127.0.0.1:1", ...env }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const collecting = Promise.all([collect(child.stdout), collect(child.stderr)]);
  try {
    for (let i = 0; i < 600 && !/admin listening on (\S+)/.test(text); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const adminUrl = /admin listening on (\S+)/.exec(text)?.[1];
    assert.ok(adminUrl, text);
    assert.doesNotMatch(text, /was not found|Warning/, "no warning about .env");
    await fn(adminUrl, text);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await collecting;
  }
}

Deno.test("loadEnvFile fills in what the environment lacks and never overrides it", async () => {
  const dir = await Deno.makeTempDir();
  const names = ["LLMQ_TEST_A", "LLMQ_TEST_B", "LLMQ_TEST_C", ENV_FILE_VARIABLE];
  try {
    const file = join(dir, ".env");
    await Deno.writeTextFile(
      file,
      '# a comment\nLLMQ_TEST_A=from-file\nexport LLMQ_TEST_B="quoted # not a comment"\n' +
        "LLMQ_TEST_C=${LLMQ_TEST_A}\n",
    );
    Deno.env.set("LLMQ_TEST_A", "from-environment");
    assert.equal(loadEnvFile(), null, "nothing is loaded unless a task names the file");
    assert.equal(Deno.env.get("LLMQ_TEST_B"), undefined);

    Deno.env.set(ENV_FILE_VARIABLE, file);
    assert.equal(loadEnvFile(), file);
    assert.equal(Deno.env.get("LLMQ_TEST_A"), "from-environment", "the environment wins");
    assert.equal(Deno.env.get("LLMQ_TEST_B"), "quoted # not a comment");
    assert.equal(Deno.env.get("LLMQ_TEST_C"), "${LLMQ_TEST_A}", "no expansion: `$` is kept");

    Deno.env.set(ENV_FILE_VARIABLE, join(dir, "missing.env"));
    assert.equal(loadEnvFile(), null, "a missing file is no error");
    Deno.env.set(ENV_FILE_VARIABLE, dir);
    assert.throws(
      () => loadEnvFile(),
      (e) => e instanceof ConfigError && /^Cannot start: cannot read /.test(e.message),
    );
  } finally {
    for (const name of names) Deno.env.delete(name);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task key runs without .env, silently, and with one it uses its values", async () => {
  const dir = await freshCopy();
  try {
    const without = await sh(dir, "deno task key list", cleanEnv());
    assert.equal(without.code, 0, without.stderr);
    assert.match(without.stdout, /No keys yet/);
    assert.doesNotMatch(without.stderr, /not found|Warning/i, without.stderr);

    await Deno.writeTextFile(join(dir, ".env"), "DATABASE_URL=sqlite:///./from-dotenv.db\n");
    const created = await sh(dir, "deno task key create --name from-env", cleanEnv());
    assert.equal(created.code, 0, created.stderr);
    await Deno.stat(join(dir, "from-dotenv.db")); // the database .env named
    // A variable set in the environment wins over the file.
    const overridden = await sh(
      dir,
      "deno task key list --json",
      cleanEnv({ DATABASE_URL: "sqlite:///./from-environment.db" }),
    );
    assert.equal(overridden.code, 0, overridden.stderr);
    assert.deepEqual(JSON.parse(overridden.stdout), []);
    await Deno.stat(join(dir, "from-environment.db"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the README's first command works on a fresh checkout, without any warning", async () => {
  const commands = await readmeFirstCommands();
  assert.match(commands[0], /> \.env$/, "the first line writes .env");
  assert.equal(commands[1], "deno task start");
  const dir = await freshCopy();
  try {
    const first = await sh(dir, commands[0], cleanEnv());
    assert.equal(first.code, 0, first.stderr);
    const password = /^ADMIN_PASSWORD=(.+)$/m.exec(await Deno.readTextFile(join(dir, ".env")))![1];
    assert.ok(password.length >= 16);

    // Free ports instead of 8000/8001, which the machine may use; the rest as on a fresh machine.
    await whileRunning(dir, commands[1], {}, async (adminUrl, output) => {
      assert.doesNotMatch(output, /WARNING: ADMIN_PASSWORD/, "the generated password is not weak");
      const res = await fetch(`${adminUrl}/api/api-keys`, {
        headers: { authorization: `Bearer ${password}` },
      });
      assert.equal(res.status, 200, "the password in .env is the admin password");
      await res.body?.cancel();
    });
    await Deno.stat(join(dir, "data", "llm-quota.db")); // SQLite in ./data, as the README says
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task start runs without .env, silently, on the environment alone", async () => {
  const dir = await freshCopy();
  try {
    await whileRunning(dir, "deno task start", { ADMIN_PASSWORD }, async (adminUrl) => {
      const res = await fetch(`${adminUrl}/api/api-keys`, {
        headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task start with .env.example copied unchanged refuses the example password", async () => {
  const dir = await freshCopy();
  try {
    await Deno.copyFile(join(ROOT, ".env.example"), join(dir, ".env"));
    const out = await sh(dir, "deno task start", cleanEnv({ PROXY_PORT: "0", ADMIN_PORT: "0" }));
    assert.equal(out.code, 1, out.stdout + out.stderr);
    assert.match(out.stderr, /^Cannot start: ADMIN_PASSWORD is an example value/m);
    assert.doesNotMatch(out.stdout + out.stderr, /listening/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task dev reads .env when present and says nothing when it is not", async () => {
  const dir = await freshCopy();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    // Its first step (the port check) stops at a taken port: quick, and it shows what it read.
    const env = cleanEnv({ ADMIN_PASSWORD, PROXY_HOST: "127.0.0.1", ADMIN_PORT: "0" });
    const without = await sh(dir, "deno task dev", { ...env, PROXY_PORT: String(port) });
    assert.equal(without.code, 1, without.stderr);
    assert.match(
      without.stderr,
      new RegExp(`port ${port} on 127.0.0.1 \\(PROXY_PORT, the proxy listener\\)`),
    );
    assert.doesNotMatch(without.stderr, /was not found|Warning/);

    await Deno.writeTextFile(join(dir, ".env"), `PROXY_PORT=${port}\n`);
    const withFile = await sh(dir, "deno task dev", env);
    assert.equal(withFile.code, 1, withFile.stderr);
    assert.match(
      withFile.stderr,
      new RegExp(`port ${port} on 127.0.0.1 \\(PROXY_PORT, the proxy listener\\)`),
    );
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});
