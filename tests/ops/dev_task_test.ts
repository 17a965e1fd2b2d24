import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../core/config.ts";
import { portProblems } from "../../ops/port_check.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { createTestDatabase } from "../support/databases.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Runs `deno task dev` in the repository with `env` on top of a safe base. */
function devTask(env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "dev"],
    cwd: ROOT,
    env: {
      ADMIN_PASSWORD,
      PROXY_HOST: "127.0.0.1",
      ADMIN_HOST: "127.0.0.1",
      OLLAMA_URL: "http://127.0.0.1:1",
      NO_COLOR: "1",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

for (const variable of ["PROXY_PORT", "ADMIN_PORT"]) {
  Deno.test(`deno task dev stops at once when ${variable} is taken, naming port and variable`, async () => {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    try {
      const other = variable === "PROXY_PORT" ? "ADMIN_PORT" : "PROXY_PORT";
      const out = await devTask({ [variable]: String(port), [other]: String(freePort()) })
        .output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, stderr);
      assert.ok(
        stderr.includes(
          `port ${port} on 127.0.0.1 (${variable}, the ${
            variable === "PROXY_PORT" ? "proxy" : "admin"
          } listener) is already in use`,
        ),
        stderr,
      );
      assert.ok(stderr.includes(`set ${variable} to a free port`), stderr);
      assert.ok(!stderr.includes("Watcher"), "the watcher never starts");
    } finally {
      taken.close();
    }
  });
}

Deno.test("the same port for both listeners is refused before anything binds", () => {
  assert.throws(
    () => parseConfig({ ADMIN_PASSWORD, PROXY_PORT: "18555", ADMIN_PORT: "18555" }),
    new ConfigError(
      "Cannot start: PROXY_PORT and ADMIN_PORT are both 18555; set one of them to another port (in .env or the environment)",
    ),
  );
  // Two different specific addresses may share a port.
  const config = parseConfig({
    ADMIN_PASSWORD,
    PROXY_HOST: "127.0.0.2",
    PROXY_PORT: "18555",
    ADMIN_PORT: "18555",
  });
  assert.deepEqual(portProblems(config), []);
});

Deno.test("deno task dev runs the gateway under the file watcher when both ports are free", async () => {
  const db = await createTestDatabase("sqlite");
  const proxyPort = freePort();
  const child = devTask({
    PROXY_PORT: String(proxyPort),
    ADMIN_PORT: String(freePort()),
    DATABASE_URL: db.url,
  });
  let text = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const collecting = Promise.all([collect(child.stdout), collect(child.stderr)]);
  try {
    for (
      let i = 0;
      i < 400 && !text.includes(`proxy listening on http://127.0.0.1:${proxyPort}`);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(text, /Watcher Process started/);
    const res = await fetch(`http://127.0.0.1:${proxyPort}/healthz`);
    assert.equal(res.status, 200, text);
    await res.body?.cancel();
  } finally {
    // A signal to the task's process alone stops the gateway gracefully; the watcher then waits
    // for a file change until a second signal ends it. (Ctrl-C in a terminal signals the whole
    // process group: the watcher waits for the graceful stop and ends with it.)
    child.kill("SIGTERM");
    for (let i = 0; i < 100 && !text.includes("Restarting on file change"); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGINT");
    await child.status;
    await collecting;
    await db.drop();
  }
  assert.equal(
    await fetch(`http://127.0.0.1:${proxyPort}/healthz`).then(() => "answered", () => "closed"),
    "closed",
    "stopping the task stops the gateway",
  );
});
