/**
 * What the gateway process writes, as an operator reads it: start errors that name the listener,
 * the address and the variable; configuration and database errors that say what is allowed;
 * with LOG_FORMAT=json, every line one JSON object, from start to stop. Real processes.
 * @module
 */
import assert from "node:assert/strict";
import { createTestDatabase } from "../support/databases.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { runGatewayToExit, spawnGateway } from "../support/processes.ts";

const LISTENERS = [
  { variable: "PROXY_PORT", listener: "proxy", other: "ADMIN_PORT" },
  { variable: "ADMIN_PORT", listener: "admin", other: "PROXY_PORT" },
];

/** Every line of `text` parsed as JSON; fails naming the first line that is not. */
function jsonLines(text: string): Array<Record<string, unknown>> {
  return text.split("\n").filter((l) => l !== "").map((line) => {
    try {
      const value = JSON.parse(line);
      assert.equal(typeof value, "object", line);
      return value;
    } catch {
      throw new assert.AssertionError({ message: `not a JSON object: ${line}` });
    }
  });
}

for (const { variable, listener, other } of LISTENERS) {
  Deno.test(`a taken ${variable} stops start-up naming the ${listener} listener, its address and the variable`, async () => {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    const db = await createTestDatabase("sqlite");
    try {
      const out = await runGatewayToExit({
        DATABASE_URL: db.url,
        [variable]: String(port),
        [other]: "0",
        ADMIN_HOST: "127.0.0.1",
      });
      assert.equal(out.code, 1, out.stderr);
      assert.equal(
        out.stderr,
        `Cannot start: port ${port} on 127.0.0.1 (${variable}, the ${listener} listener) is ` +
          `already in use. Stop the program using it, or set ${variable} to a free port (in .env or the environment)\n`,
      );
      assert.equal(out.stdout, "");
    } finally {
      taken.close();
      await db.drop();
    }
  });
}

Deno.test("PROXY_PORT equal to ADMIN_PORT is refused before anything binds", async () => {
  const out = await runGatewayToExit({ PROXY_PORT: "18601", ADMIN_PORT: "18601" });
  assert.equal(out.code, 1);
  assert.equal(
    out.stderr,
    "Cannot start: PROXY_PORT and ADMIN_PORT are both 18601; set one of them to another port (in .env or the environment)\n",
  );
});

Deno.test("a port that is not a number is named with what is allowed", async () => {
  const out = await runGatewayToExit({ PROXY_PORT: "abc" });
  assert.equal(out.code, 1);
  assert.equal(
    out.stderr,
    'Cannot start: PROXY_PORT must be a whole number from 0 to 65535; got "abc"\n',
  );
});

Deno.test("a DATABASE_URL of another database lists every form the gateway accepts, never the URL", async () => {
  const out = await runGatewayToExit({ DATABASE_URL: "mysql://app:hunter22@db:3306/quota" });
  assert.equal(out.code, 1);
  assert.match(out.stderr, /^Cannot start: DATABASE_URL must be sqlite:\/\/\/relative\/path, /);
  assert.match(out.stderr, /postgres:\/\/user:password@host:5432\/database/);
  assert.match(out.stderr, /got mysql:\/\/…\n$/);
  assert.ok(!out.stderr.includes("hunter22"), "the password is not shown");
});

Deno.test("a SQLite path Deno may not write (/proc) is named as not writable, with no --allow-all advice", async () => {
  const out = await runGatewayToExit({ DATABASE_URL: "sqlite:////proc/llm-quota.db" });
  assert.equal(out.code, 1);
  assert.equal(
    out.stderr,
    "Cannot start: SQLite database /proc/llm-quota.db (DATABASE_URL): the path is not writable; " +
      "set DATABASE_URL to a file in a writable folder, e.g. sqlite:///./data/llm-quota.db\n",
  );
});

Deno.test("with LOG_FORMAT=json a start error is one JSON line naming the variable", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    for (
      const [env, error] of [
        [{ PROXY_PORT: "abc" }, /^PROXY_PORT must be a whole number/],
        [{ PROXY_PORT: String(port) }, /\(PROXY_PORT, the proxy listener\) is already in use/],
        [{ DATABASE_URL: "sqlite:////proc/x.db" }, /^SQLite database \/proc\/x\.db .*not writable/],
      ] as const
    ) {
      const out = await runGatewayToExit({ LOG_FORMAT: "json", ...env });
      assert.equal(out.code, 1);
      const lines = jsonLines(out.stderr);
      assert.equal(lines.length, 1, out.stderr);
      assert.equal(lines[0].level, "error");
      assert.equal(lines[0].msg, "cannot start");
      assert.match(String(lines[0].error), error);
      assert.equal(out.stdout, "");
    }
  } finally {
    taken.close();
  }
});

Deno.test("with LOG_FORMAT=json every line the gateway writes, start to stop, is one JSON object on stderr", async () => {
  const db = await createTestDatabase("sqlite");
  const mock = await startMockOllama();
  const gateway = await spawnGateway({
    DATABASE_URL: db.url,
    OLLAMA_URL: mock.url,
    LOG_FORMAT: "json",
    // A risky setting, so the report carries a warning too.
    ALLOWED_ORIGINS: "*",
    SHUTDOWN_GRACE_SECONDS: "1",
  });
  let code: number;
  try {
    const created = await fetch(gateway.adminUrl + "/api/api-keys", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
      body: JSON.stringify({ name: "json" }),
    });
    assert.equal(created.status, 201);
    const { key } = await created.json();
    const res = await fetch(gateway.proxyUrl + "/api/chat", {
      method: "POST",
      headers: { authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: "llama3", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    code = await gateway.stop();
    await mock.close();
    await db.drop();
  }
  assert.equal(code, 0, gateway.output());
  assert.equal(gateway.stdout(), "", "nothing on stdout");
  const lines = jsonLines(gateway.stderr());
  for (const line of lines) {
    assert.equal(typeof line.time, "string");
    assert.equal(typeof line.level, "string");
    assert.equal(typeof line.msg, "string");
  }
  const msgs = lines.map((l) => l.msg);
  assert.equal(msgs[0], "started", msgs.join(", "));
  assert.match(String((lines[0].warnings as string[])[0]), /ALLOWED_ORIGINS=\*/);
  assert.ok(msgs.includes("request"), msgs.join(", "));
  assert.deepEqual(msgs.slice(-2), ["shutting down", "stopped"]);
  assert.equal(lines.at(-2)!.grace_seconds, 1);
  assert.equal(typeof lines.at(-1)!.seconds, "number");
});

Deno.test("in text mode the start-up report and the shutdown lines go to stderr, and say what shutdown does", async () => {
  const db = await createTestDatabase("sqlite");
  const gateway = await spawnGateway({
    DATABASE_URL: db.url,
    OLLAMA_URL: "http://127.0.0.1:1",
    SHUTDOWN_GRACE_SECONDS: "1",
  });
  let code: number;
  try {
    code = await gateway.stop();
  } finally {
    await db.drop();
  }
  assert.equal(code, 0);
  assert.equal(gateway.stdout(), "");
  const err = gateway.stderr();
  assert.match(err, /^llm-quota started$/m);
  assert.match(
    err,
    /^Shutting down: running requests may finish for 1 s, then they are aborted$/m,
  );
  assert.match(err, /^Stopped after \d+(\.\d)? s; usage recorded, database closed$/m);
});
