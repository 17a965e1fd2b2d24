import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { parseConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { sqlitePath } from "../../db/sqlite.ts";
import { startGateway } from "../../main.ts";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { ADMIN_PASSWORD, gatewayTest, type TestGateway } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { until } from "../support/several_boxes.ts";
import { startTcpForwarder } from "../support/tcp_forwarder.ts";

/** Both listeners' base URLs. */
function listeners(t: TestGateway): string[] {
  return [t.gateway.proxyUrl, t.gateway.adminUrl];
}

/** Removes a migration's record behind the gateway's back, as a half-migrated database would. */
async function forgetMigration(t: TestGateway, version: number): Promise<void> {
  if (t.dialect === "sqlite") {
    const db = new DatabaseSync(sqlitePath(t.db.url));
    db.prepare("DELETE FROM schema_migrations WHERE version = ?").run(version);
    db.close();
    return;
  }
  const sql = postgres(t.db.url, { max: 1, onnotice: () => {} });
  await sql`DELETE FROM schema_migrations WHERE version = ${version}`;
  await sql.end();
}

async function renameMigrationsTable(t: TestGateway, from: string, to: string): Promise<void> {
  const statement = `ALTER TABLE ${from} RENAME TO ${to}`; // constant names from this file
  if (t.dialect === "sqlite") {
    const db = new DatabaseSync(sqlitePath(t.db.url));
    db.exec(statement);
    db.close();
    return;
  }
  const sql = postgres(t.db.url, { max: 1, onnotice: () => {} });
  await sql.unsafe(statement);
  await sql.end();
}

async function readyz(base: string) {
  const res = await fetch(base + "/readyz");
  return { status: res.status, body: await res.json() };
}

gatewayTest("GET /healthz answers 200 on both listeners without a key", async (t) => {
  for (const base of listeners(t)) {
    const res = await fetch(base + "/healthz");
    assert.equal(res.status, 200, base);
    assert.deepEqual(await res.json(), { status: "ok" });
    assert.equal(res.headers.get("cache-control"), "no-store");
  }
});

gatewayTest(
  "GET /readyz reports the database, its migrations and Ollama on both listeners",
  async (t) => {
    for (const base of listeners(t)) {
      const res = await fetch(base + "/readyz");
      assert.equal(res.status, 200, base);
      const body = await res.json();
      assert.equal(body.status, "ready");
      assert.equal(body.database.ok, true);
      assert.equal(body.database.dialect, t.dialect);
      assert.equal(body.database.migrations, "current");
      assert.equal(typeof body.database.latency_ms, "number");
      assert.deepEqual(body.ollama, {
        ok: true,
        required: false,
        version: "0.33.0",
        upstreams: [{ id: 1, enabled: true, ok: true, version: "0.33.0" }],
      });
    }
  },
);

gatewayTest(
  "readiness does not need Ollama: it is reported down and the gateway stays ready",
  async (t) => {
    const put = await t.admin("/api/settings", {
      method: "PUT",
      body: JSON.stringify({ ollama_url: "http://127.0.0.1:1" }),
    });
    assert.equal(put.status, 200);
    const res = await t.proxy("/readyz");
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, "ready");
    assert.deepEqual(body.ollama, {
      ok: false,
      required: false,
      error: "unreachable",
      upstreams: [{ id: 1, enabled: true, ok: false, error: "unreachable" }],
    });
  },
);

gatewayTest(
  "GET /readyz reports each Ollama box by id: one down, one disabled, one answering with its token",
  async (t) => {
    const secured = await startMockOllama();
    try {
      const add = async (body: Record<string, unknown>) =>
        (await (await t.admin("/api/upstreams", { method: "POST", body: JSON.stringify(body) }))
          .json()).id;
      const down = await add({ name: "down", url: "http://127.0.0.1:1" });
      const off = await add({ name: "off", url: "http://127.0.0.1:2", enabled: false });
      const tok = await add({ name: "tok", url: secured.url, token: "ready-token-123" });
      // The prober asks /api/version too (every 10 s): once its first round is in, whatever asks
      // for the version next is the readiness check.
      const version = () => secured.requests.filter((r) => r.path === "/api/version");
      await until(() => version().length > 0, "the prober's first version probe");
      secured.requests.splice(0);
      const res = await t.proxy("/readyz");
      const text = await res.text();
      assert.doesNotMatch(text, /ready-token-123|127\.0\.0\.1|http/);
      const body = JSON.parse(text);
      assert.equal(body.status, "ready");
      assert.equal(body.ollama.ok, true, "one box answering is enough");
      assert.deepEqual(body.ollama.upstreams, [
        { id: 1, enabled: true, ok: true, version: "0.33.0" },
        { id: down, enabled: true, ok: false, error: "unreachable" },
        { id: off, enabled: false, ok: false, error: "disabled" },
        { id: tok, enabled: true, ok: true, version: "0.33.0" },
      ]);
      assert.ok(version().length > 0, "readiness asked the box");
      for (const asked of version()) {
        assert.equal(asked.headers.get("authorization"), "Bearer ready-token-123");
      }
    } finally {
      await secured.close();
    }
  },
);

gatewayTest("pending migrations make the gateway not ready (503)", async (t) => {
  await forgetMigration(t, 1);
  const res = await t.proxy("/readyz");
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.status, "not_ready");
  assert.equal(body.database.ok, false);
  assert.equal(body.database.error, "migrations_pending");
  assert.equal(body.database.migrations, "1 pending");
  assert.ok(t.logs.some((l) => l.includes("WARN not ready") && l.includes("migrations pending")));
});

gatewayTest("a failing database query makes the gateway not ready (503)", async (t) => {
  await renameMigrationsTable(t, "schema_migrations", "schema_migrations_away");
  try {
    const res = await fetch(t.gateway.adminUrl + "/readyz");
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.status, "not_ready");
    assert.deepEqual(body.database, { ok: false, dialect: t.dialect, error: "unavailable" });
  } finally {
    await renameMigrationsTable(t, "schema_migrations_away", "schema_migrations");
  }
});

if (testDialects().includes("postgres")) {
  Deno.test("[postgres] readiness follows the database: 503 while it is gone, 200 once back", async () => {
    const db = await createTestDatabase("postgres");
    const target = new URL(db.url);
    const forwarder = startTcpForwarder({
      hostname: target.hostname,
      port: Number(target.port || 5432),
    });
    const viaForwarder = new URL(db.url);
    viaForwarder.port = String(forwarder.port);
    const mock = await startMockOllama();
    const gateway = await startGateway(
      parseConfig({
        ADMIN_PASSWORD,
        PROXY_HOST: "127.0.0.1",
        PROXY_PORT: "0",
        ADMIN_PORT: "0",
        DATABASE_URL: viaForwarder.toString(),
        OLLAMA_URL: mock.url,
      }),
      { log: createLogger("error", () => {}) },
    );
    try {
      assert.equal((await readyz(gateway.proxyUrl)).status, 200);
      forwarder.cut();
      await new Promise((r) => setTimeout(r, 1100)); // past the one-second reuse of a result
      const down = await readyz(gateway.proxyUrl);
      assert.equal(down.status, 503);
      assert.equal(down.body.database.ok, false);
      assert.ok(["unavailable", "timeout"].includes(down.body.database.error));
      forwarder.restore();
      let status = 0;
      for (let i = 0; i < 40 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 250));
        status = (await readyz(gateway.proxyUrl)).status;
      }
      assert.equal(status, 200, "ready again once the database is back");
    } finally {
      await gateway.close();
      forwarder.close();
      await mock.close();
      await db.drop();
    }
  });
}

gatewayTest("health answers show no secrets, paths, hosts or URLs", async (t) => {
  await t.admin("/api/settings", {
    method: "PUT",
    body: JSON.stringify({ ollama_url: "http://127.0.0.1:1" }),
  });
  await forgetMigration(t, 1);
  const dbUrl = new URL(t.db.url);
  const secrets = [ADMIN_PASSWORD, t.db.url, dbUrl.pathname, "127.0.0.1", t.mock.url, "http"];
  for (const base of listeners(t)) {
    for (const path of ["/healthz", "/readyz"]) {
      const text = await (await fetch(base + path)).text();
      for (const secret of secrets) {
        assert.ok(!text.includes(secret), `${path} shows ${secret}: ${text}`);
      }
    }
  }
});

gatewayTest(
  "health routes on the proxy answer before the key check and use no quota",
  async (t) => {
    const { key, id } = await t.createKey({ daily_request_limit: 1 });
    for (const path of ["/healthz", "/readyz"]) {
      const res = await fetch(t.gateway.proxyUrl + path, {
        headers: { authorization: "Bearer x" },
      });
      assert.equal(res.status, 200, path);
      await res.body?.cancel();
    }
    assert.equal((await t.usage(id)).today.requests, 0);
    assert.equal(t.mock.inferenceCount(), 0);
    assert.ok(key);
  },
);
