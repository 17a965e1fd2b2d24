import assert from "node:assert/strict";
import { resolve } from "node:path";
import { parseConfig } from "../../core/config.ts";
import { sqlitePath } from "../../db/sqlite.ts";
import { connectionWarnings, describeDatabase, startupWarnings } from "../../ops/startup_report.ts";
import { createTestDatabase } from "../support/databases.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { refusedPort } from "../support/ports.ts";
import { spawnGateway } from "../support/processes.ts";

/** Starts main.ts in a process on a fresh SQLite database and returns its start-up output. */
async function startupOutput(env: Record<string, string>, withMock = true): Promise<string> {
  const db = await createTestDatabase("sqlite");
  const mock = withMock ? await startMockOllama() : null;
  const gateway = await spawnGateway({
    DATABASE_URL: db.url,
    ...(mock ? { OLLAMA_URL: mock.url } : {}),
    ...env,
  });
  try {
    // The report is complete once its last fixed line is there.
    for (let i = 0; i < 200 && !/ {2}logs: level/.test(gateway.output()); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    return gateway.output().replaceAll(db.url, "<DATABASE_URL>") +
      `\n[db path: ${resolve(sqlitePath(db.url))}]` + (mock ? `\n[ollama: ${mock.url}]` : "");
  } finally {
    await gateway.stop();
    await mock?.close();
    await db.drop();
  }
}

Deno.test("the start-up report names the listeners, the database, Ollama and APP_TZ", async () => {
  const out = await startupOutput({ APP_TZ: "America/New_York" });
  const dbPath = /\[db path: (.+)\]/.exec(out)![1];
  const ollama = /\[ollama: (.+)\]/.exec(out)![1];
  assert.match(out, /^llm-quota started$/m);
  assert.match(out, /^ {2}proxy listening on http:\/\/127\.0\.0\.1:\d+ /m);
  assert.match(out, /^ {2}admin listening on http:\/\/127\.0\.0\.1:\d+ /m);
  assert.ok(out.includes(`  database: sqlite file ${dbPath}\n`), out);
  assert.ok(out.includes(`  ollama: ${ollama} answered (version 0.33.0)\n`), out);
  assert.match(out, /^ {2}APP_TZ: America\/New_York$/m);
  assert.match(out, /^ {2}logs: level info, format text$/m);
  assert.match(
    out,
    /^ {2}connections: at most \d+ \(proxy\) and \d+ \(admin\) open; open-file limit .+; headers timeout 30 s, idle timeout 75 s$/m,
  );
  assert.doesNotMatch(out, /WARNING/, "safe settings give no warnings");
  assert.ok(!out.includes(ADMIN_PASSWORD));
});

Deno.test("the start-up report says when Ollama does not answer and warns of risky settings", async () => {
  const ollama = `http://127.0.0.1:${refusedPort()}`;
  const out = await startupOutput({
    OLLAMA_URL: ollama,
    ADMIN_HOST: "0.0.0.0",
    ALLOWED_ORIGINS: "*",
    METRICS_TOKEN: "short",
  }, false);
  // What went wrong and what to check, not Deno's bare "fetch failed".
  assert.ok(
    out.includes(
      `  ollama: ${ollama} did not answer: the connection was refused; inference requests get 502 until it does. Is Ollama running (ollama serve), on that host and port?`,
    ),
    out,
  );
  assert.doesNotMatch(out, /fetch failed/);
  assert.match(out, /^ {2}WARNING: ADMIN_HOST=0\.0\.0\.0: .*do not publish port \d+/m);
  assert.match(out, /^ {2}WARNING: ALLOWED_ORIGINS=\*/m);
  assert.match(out, /^ {2}WARNING: METRICS_TOKEN has 5 characters/m);
  assert.ok(!out.includes("short"), "the token itself is not shown");
});

Deno.test("a PostgreSQL database is named by user, host, port and database, never its password", async () => {
  const config = parseConfig({
    ADMIN_PASSWORD,
    DATABASE_URL: "postgres://quota:pa55-w0rd%21@db.internal:6543/llmquota?sslmode=require",
    DB_POOL_SIZE: "4",
  });
  const described = await describeDatabase(config);
  assert.equal(described, "postgres quota@db.internal:6543/llmquota (pool 4)");
  assert.ok(!described.includes("pa55"));
});

Deno.test("the start-up report gives several boxes a line each, with what each said", async () => {
  const dead = `http://127.0.0.1:${refusedPort()}`;
  const mock = await startMockOllama();
  try {
    const out = await startupOutput({ OLLAMA_URL: `${mock.url},${dead}` }, false);
    const live = new URL(mock.url).host;
    assert.match(out, /^ {2}ollama: 2 boxes$/m);
    assert.ok(
      out.includes(`    ${live} at ${mock.url}: answered (version 0.33.0); at most 1 in flight\n`),
      out,
    );
    assert.ok(
      out.includes(
        `    ${
          new URL(dead).host
        } at ${dead}: did not answer: the connection was refused; requests go to the other boxes meanwhile.`,
      ),
      out,
    );
  } finally {
    await mock.close();
  }
});

Deno.test("risky settings each give a warning that names the variable", () => {
  const base = { ADMIN_PASSWORD: "a-long-enough-admin-password" };
  const warn = (env: Record<string, string>, stored = "http://localhost:11434") =>
    startupWarnings(parseConfig({ ...base, ...env }), stored);
  assert.deepEqual(warn({}), []);
  assert.match(warn({ ADMIN_HOST: "0.0.0.0" }).join(), /^ADMIN_HOST=0\.0\.0\.0/);
  assert.deepEqual(warn({ ADMIN_HOST: "127.0.0.5" }), [], "any 127.x address is loopback");
  // Weak passwords only start with ALLOW_WEAK_ADMIN_PASSWORD=true, and then still warn.
  const weak = { ALLOW_WEAK_ADMIN_PASSWORD: "true" };
  assert.match(
    warn({ ...weak, ADMIN_PASSWORD: "change-me-to-a-long-secret" }).join(),
    /ADMIN_PASSWORD is an example value/,
  );
  assert.match(
    warn({ ...weak, ADMIN_PASSWORD: "short-pw" }).join(),
    /ADMIN_PASSWORD has 8 characters/,
  );
  assert.match(warn({ METRICS_TOKEN: "tiny" }).join(), /METRICS_TOKEN has 4 characters/);
  assert.match(warn({ ALLOWED_ORIGINS: "https://a.example, *" }).join(), /ALLOWED_ORIGINS=\*/);
  assert.match(warn({ METRICS_KEY_LABELS: "true" }).join(), /METRICS_KEY_LABELS=true/);
  assert.match(warn({ DATABASE_URL: "sqlite:///:memory:" }).join(), /in-memory/);
  assert.match(
    warn({ OLLAMA_URL: "http://localhost:11434" }, "http://gpu-box:11434").join(),
    /OLLAMA_URL=http:\/\/localhost:11434 is not used: the Ollama boxes stored in the database \(http:\/\/gpu-box:11434\) win/,
  );
  // The same boxes, written with spaces and a trailing slash: nothing ignored.
  assert.deepEqual(warn({ OLLAMA_URL: "http://a:1/ , http://b:2" }, "http://a:1,http://b:2"), []);
  // Nobody set OLLAMA_URL: its default is no setting to warn about when Settings has another URL.
  assert.deepEqual(warn({}, "http://gpu-box:11434"), []);
});

Deno.test("connection caps that need more descriptors than the open-file limit are warned about", () => {
  const [warning, ...rest] = connectionWarnings(
    { proxy: 5000, admin: 1000, openFileLimit: 1024 },
    10,
  );
  assert.deepEqual(rest, []);
  assert.match(
    warning,
    /^PROXY_MAX_CONNECTIONS=5000 and ADMIN_MAX_CONNECTIONS=1000 may need ~12110/,
  );
  assert.match(warning, /open-file limit \(1024\)/);
  assert.deepEqual(connectionWarnings({ proxy: 300, admin: 100, openFileLimit: 1024 }, 10), []);
  // An unreadable limit gives no warning: nothing is known to compare with.
  assert.deepEqual(connectionWarnings({ proxy: 5000, admin: 1000, openFileLimit: null }, 10), []);
});
