import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../core/config.ts";

const PASSWORD = "a-long-enough-admin-password";

Deno.test("config defaults match the documented ones", () => {
  const c = parseConfig({ ADMIN_PASSWORD: PASSWORD });
  assert.equal(c.proxyHost, "0.0.0.0");
  assert.equal(c.proxyPort, 8000);
  assert.equal(c.adminHost, "127.0.0.1");
  assert.equal(c.adminPort, 8001);
  assert.equal(c.databaseUrl, "sqlite:///./data/llm-quota.db");
  assert.equal(c.ollamaUrl, "http://localhost:11434");
  assert.equal(c.defaultModel, "llama3");
  assert.equal(c.timeZone, "Europe/Berlin");
  assert.deepEqual(c.allowedOrigins, []);
});

Deno.test("a missing ADMIN_PASSWORD stops start-up with a message naming it", () => {
  assert.throws(
    () => parseConfig({}),
    (e) => e instanceof ConfigError && /ADMIN_PASSWORD/.test(e.message),
  );
});

Deno.test("a wrong value stops start-up with one line naming the variable", () => {
  for (
    const [name, value] of [["APP_TZ", "Mars/Olympus"], ["PROXY_PORT", "99999"], [
      "OLLAMA_URL",
      "ftp://x",
    ]]
  ) {
    assert.throws(
      () => parseConfig({ ADMIN_PASSWORD: PASSWORD, [name]: value }),
      (e) => e instanceof ConfigError && e.message.includes(name) && !e.message.includes("\n"),
    );
  }
});

Deno.test("ALLOWED_ORIGINS is a comma-separated list", () => {
  const c = parseConfig({
    ADMIN_PASSWORD: PASSWORD,
    ALLOWED_ORIGINS: "https://a.example, http://b:3000/",
  });
  assert.deepEqual(c.allowedOrigins, ["https://a.example", "http://b:3000"]);
});

Deno.test("PUBLIC_URL is an http(s) base URL, kept without its trailing slash", () => {
  assert.equal(parseConfig({ ADMIN_PASSWORD: PASSWORD }).publicUrl, null, "unset: none");
  assert.equal(parseConfig({ ADMIN_PASSWORD: PASSWORD, PUBLIC_URL: "" }).publicUrl, null);
  const c = parseConfig({ ADMIN_PASSWORD: PASSWORD, PUBLIC_URL: "https://LLM.example.com/gw/" });
  assert.equal(c.publicUrl, "https://llm.example.com/gw");
  for (
    const bad of ["ftp://x", "gpu-box:8000", "http://user:pw@x", "http://x/?a=1", "http://x/#f"]
  ) {
    assert.throws(
      () => parseConfig({ ADMIN_PASSWORD: PASSWORD, PUBLIC_URL: bad }),
      (e) =>
        e instanceof ConfigError && /^Cannot start: PUBLIC_URL must be an http/.test(e.message),
      bad,
    );
  }
});

Deno.test("a number that is not one says which variable and what is allowed, not NaN", () => {
  for (
    const [name, value, allowed] of [
      ["PROXY_PORT", "abc", "must be a whole number from 0 to 65535"],
      ["ADMIN_PORT", "80.5", "must be a whole number from 0 to 65535"],
      ["DB_POOL_SIZE", "0", "must be a whole number, 1 or more"],
      ["PROXY_MAX_CONNECTIONS", "many", "must be a whole number, 1 or more"],
      ["SHUTDOWN_GRACE_SECONDS", "-1", "must be a number of seconds, 0 or more"],
      ["HEADERS_TIMEOUT_SECONDS", "0", "must be a number of seconds above 0"],
      ["IDLE_TIMEOUT_SECONDS", "Infinity", "must be a number of seconds above 0"],
    ]
  ) {
    assert.throws(
      () => parseConfig({ ADMIN_PASSWORD: PASSWORD, [name]: value }),
      new ConfigError(`Cannot start: ${name} ${allowed}; got ${JSON.stringify(value)}`),
    );
  }
});

Deno.test("every documented variable, given a wrong value, is named with what it allows, never zod's words", () => {
  // The variables of the README's configuration table, so a new one cannot be left out.
  const readme = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
  const names = [...readme.matchAll(/^\| `([A-Z_]+)`(?: \/ `([A-Z_]+)`)? \|/gm)]
    .flatMap((m) => [m[1], m[2]]).filter((n): n is string => n !== undefined);
  assert.ok(names.includes("QUEUE_MAX") && names.includes("LOG_LEVEL"), names.join());
  for (const name of names) {
    for (const value of ["abc", "-1", "1.5x"]) {
      try {
        parseConfig({ ADMIN_PASSWORD: PASSWORD, [name]: value });
      } catch (err) {
        assert.ok(err instanceof ConfigError, `${name}=${value}: ${err}`);
        const { message } = err;
        assert.match(message, new RegExp(`^Cannot start: [^:]*\\b${name}\\b`), message);
        assert.doesNotMatch(
          message,
          /NaN|Invalid (input|option)|expected|Too (small|big)/,
          message,
        );
      }
    }
  }
  assert.throws(
    () => parseConfig({ ADMIN_PASSWORD: PASSWORD, QUEUE_MAX: "many" }),
    new ConfigError('Cannot start: QUEUE_MAX must be a whole number, 0 or more; got "many"'),
  );
  assert.throws(
    () => parseConfig({ ADMIN_PASSWORD: PASSWORD, LOG_LEVEL: "verbose" }),
    new ConfigError(
      'Cannot start: LOG_LEVEL must be one of debug, info, warn, error; got "verbose"',
    ),
  );
  assert.equal(
    parseConfig({ ADMIN_PASSWORD: PASSWORD, QUEUE_TIMEOUT_SECONDS: "0.5" }).queueTimeoutMs,
    500,
  );
});

Deno.test("DATABASE_URL of another kind lists the SQLite and PostgreSQL forms and hides the rest", () => {
  for (const [url, got] of [["mysql://u:secret@h/db", "mysql://…"], ["./x.db", "no URL scheme"]]) {
    assert.throws(
      () => parseConfig({ ADMIN_PASSWORD: PASSWORD, DATABASE_URL: url }),
      (e) =>
        e instanceof ConfigError && e.message.includes("sqlite:////absolute/path") &&
        e.message.includes("postgres://") && e.message.endsWith(`got ${got}`) &&
        !e.message.includes("secret"),
    );
  }
  for (const url of ["sqlite:///./x.db", "postgresql://u@h/db", "postgres://h/db"]) {
    assert.equal(parseConfig({ ADMIN_PASSWORD: PASSWORD, DATABASE_URL: url }).databaseUrl, url);
  }
});

Deno.test("connection caps default to derived ones; the timeouts default to 30 s and 75 s", () => {
  const c = parseConfig({ ADMIN_PASSWORD: PASSWORD });
  assert.equal(c.proxyMaxConnections, null);
  assert.equal(c.adminMaxConnections, null);
  assert.equal(c.headersTimeoutMs, 30_000);
  assert.equal(c.idleTimeoutMs, 75_000);
  const set = parseConfig({
    ADMIN_PASSWORD: PASSWORD,
    PROXY_MAX_CONNECTIONS: "500",
    ADMIN_MAX_CONNECTIONS: "50",
    HEADERS_TIMEOUT_SECONDS: "0.5",
    IDLE_TIMEOUT_SECONDS: "5",
  });
  assert.deepEqual(
    [set.proxyMaxConnections, set.adminMaxConnections, set.headersTimeoutMs, set.idleTimeoutMs],
    [500, 50, 500, 5000],
  );
});
