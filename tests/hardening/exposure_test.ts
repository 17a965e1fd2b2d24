/**
 * Admin exposure: a public admin bind address needs a strong password (start-up refuses otherwise),
 * the proxy listener never serves an admin route, the admin listener never proxies.
 * @module
 */
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../core/config.ts";
import { INFERENCE_ROUTES, MANAGEMENT_PATHS, READ_ONLY_ROUTES } from "../../proxy/routes.ts";
import { ADMIN_PASSWORD, gatewayTest } from "../support/gateway.ts";
import { spawnGateway } from "../support/processes.ts";
import { signIn } from "./admin_session.ts";
import { errorMessage, VALID_BODIES } from "./requests.ts";

const SHORT = "fifteen-chars!!"; // 15 characters
const LONG = "sixteen-chars!!!"; // 16 characters
const PUBLIC_WEAK =
  /^Cannot start: ADMIN_PASSWORD has 15 characters, fewer than 16, and ADMIN_HOST \S+ is not a loopback address: choose a password of 16 or more characters$/;

Deno.test("a non-loopback ADMIN_HOST refuses a weak ADMIN_PASSWORD, even with ALLOW_WEAK_ADMIN_PASSWORD", () => {
  assert.equal(SHORT.length, 15);
  assert.equal(LONG.length, 16);
  const publicHosts = [
    "0.0.0.0",
    "::",
    "192.0.2.7",
    "admin.example.com",
    // Host names that only look like loopback addresses may resolve anywhere.
    "127.example.com",
    "127.0.0.1.nip.io",
    "127.0.0.256",
  ];
  for (const host of publicHosts) {
    for (const allowWeak of [{}, { ALLOW_WEAK_ADMIN_PASSWORD: "true" }]) {
      assert.throws(
        () => parseConfig({ ADMIN_PASSWORD: SHORT, ADMIN_HOST: host, ...allowWeak }),
        (e) =>
          e instanceof ConfigError && PUBLIC_WEAK.test(e.message) && !e.message.includes(SHORT),
        host,
      );
    }
    assert.equal(parseConfig({ ADMIN_PASSWORD: LONG, ADMIN_HOST: host }).adminHost, host);
  }
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.equal(
      parseConfig({ ADMIN_PASSWORD: "pw", ADMIN_HOST: host, ALLOW_WEAK_ADMIN_PASSWORD: "true" })
        .adminHost,
      host,
    );
  }
});

Deno.test("main.ts exits 1 with a clear message on a public ADMIN_HOST with a weak password, and starts with a strong one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "llm-quota-exposure-" });
  try {
    const databaseUrl = `sqlite:///${dir}/gateway.db`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--allow-write",
        "--allow-sys",
        new URL("../../main.ts", import.meta.url).pathname,
      ],
      env: {
        ADMIN_PASSWORD: SHORT,
        ADMIN_HOST: "0.0.0.0",
        ADMIN_PORT: "0",
        PROXY_HOST: "127.0.0.1",
        PROXY_PORT: "0",
        DATABASE_URL: databaseUrl,
        NO_COLOR: "1",
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stdout + stderr);
    assert.match(stderr.trim(), PUBLIC_WEAK);
    assert.doesNotMatch(stdout + stderr, /listening/);
    assert.ok(!(stdout + stderr).includes(SHORT), "the password is not printed");
    // Refused before anything was opened.
    assert.deepEqual([...Deno.readDirSync(dir)], []);

    const started = await spawnGateway({
      ADMIN_PASSWORD: LONG,
      ADMIN_HOST: "0.0.0.0",
      DATABASE_URL: databaseUrl,
    });
    assert.match(started.adminUrl, /:\d+$/);
    assert.equal(await started.stop(), 0, started.output());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Every admin route: the JSON API, the UI, its static files, metrics. */
function adminRoutes(id: number): Array<[string, string, string | undefined]> {
  const json = (v: unknown) => JSON.stringify(v);
  return [
    ["GET", "/api/api-keys", undefined],
    ["POST", "/api/api-keys", json({ name: "created through the proxy" })],
    ["PUT", `/api/api-keys/${id}/deactivate`, undefined],
    ["PUT", `/api/api-keys/${id}/activate`, undefined],
    ["PATCH", `/api/api-keys/${id}/quota`, json({ daily_request_limit: 0 })],
    ["PATCH", `/api/api-keys/${id}`, json({ name: "renamed through the proxy" })],
    ["DELETE", `/api/api-keys/${id}`, undefined],
    ["GET", "/api/settings", undefined],
    ["PUT", "/api/settings", json({ default_model: "through-the-proxy" })],
    ["GET", "/api/ollama-models", undefined],
    ["GET", "/api/proxy-info", undefined],
    ["GET", "/metrics", undefined],
    ["GET", "/login", undefined],
    ["POST", "/login", `password=${ADMIN_PASSWORD}`],
    ["POST", "/logout", undefined],
    ["GET", "/keys", undefined],
    ["POST", "/keys", "name=through-the-proxy"],
    ["GET", `/keys/${id}/edit`, undefined],
    ["GET", `/keys/${id}/row`, undefined],
    ["POST", `/keys/${id}`, "daily_request_limit=0"],
    ["POST", `/keys/${id}/deactivate`, undefined],
    ["GET", `/keys/${id}/delete`, undefined],
    ["POST", `/keys/${id}/delete`, undefined],
    ["GET", "/settings", undefined],
    ["POST", "/settings", "ollama_url=http%3A%2F%2F127.0.0.1%3A1&default_model=x"],
    ["POST", "/settings/test", "ollama_url=http%3A%2F%2F127.0.0.1%3A1"],
    ["GET", "/models", undefined],
    ["GET", "/proxy", undefined],
    ["GET", "/static/htmx.min.js", undefined],
    ["GET", "/static/admin.css", undefined],
    ["GET", "/static/admin.js", undefined],
    ["GET", "/static/icon.svg", undefined],
  ];
}

/** What only the admin listener shows. */
const ADMIN_CONTENT = /victim-key-name|ollama_url|key_hash|llmq_|_csrf|<html/i;

gatewayTest(
  "the proxy listener never serves admin routes, not even with the admin password or session",
  async (t) => {
    const { key, id } = await t.createKey({ name: "victim-key-name" });
    const session = await signIn(t.gateway.adminUrl);
    const credentials: Array<[string, Record<string, string>]> = [
      ["nothing", {}],
      ["the admin bearer", { authorization: `Bearer ${ADMIN_PASSWORD}` }],
      ["the admin password as x-api-key", { "x-api-key": ADMIN_PASSWORD }],
      ["a valid API key", { authorization: `Bearer ${key}` }],
      ["an admin session", { cookie: session.cookie, "x-csrf-token": session.csrf }],
      [
        "an admin session and an API key",
        { cookie: session.cookie, "x-csrf-token": session.csrf, authorization: `Bearer ${key}` },
      ],
    ];
    for (const [method, path, body] of adminRoutes(id)) {
      for (const [who, headers] of credentials) {
        const res = await t.proxy(path, {
          method,
          body,
          redirect: "manual",
          headers: {
            "content-type": body?.startsWith("{")
              ? "application/json"
              : "application/x-www-form-urlencoded",
            ...headers,
          },
        });
        const text = await res.text();
        const where = `${method} ${path} with ${who}: ${res.status} ${text}`;
        assert.ok(res.status === 401 || res.status === 404, where);
        // The proxy's own error, nothing else.
        assert.match(
          errorMessage(JSON.parse(text)),
          /^(Route \S+ \S+ not found|Missing API key|Invalid API key)/,
          where,
        );
        assert.doesNotMatch(text, ADMIN_CONTENT, where);
        assert.equal(res.headers.get("set-cookie"), null, where);
      }
    }
    // Nothing of it took effect.
    const keys = await (await t.admin("/api/api-keys")).json();
    assert.equal(keys.length, 1);
    assert.equal(keys[0].name, "victim-key-name");
    assert.equal(keys[0].status, "active");
    assert.equal(keys[0].daily_request_limit, null);
    const settings = await (await t.admin("/api/settings")).json();
    assert.deepEqual([settings.ollama_url, settings.default_model], [t.mock.url, "llama3"]);
    assert.deepEqual(t.mock.requests.map((r) => r.path), [], "nothing reached Ollama");
  },
);

gatewayTest(
  "the admin listener never proxies: Ollama and OpenAI routes are 404 there and reach no Ollama",
  async (t) => {
    const { key, id } = await t.createKey();
    const session = await signIn(t.gateway.adminUrl);
    const routes: Array<[string, string, unknown]> = [
      ["GET", "/", undefined],
      ...INFERENCE_ROUTES.map((r): [string, string, unknown] => [
        "POST",
        r.path,
        VALID_BODIES[r.path],
      ]),
      ...READ_ONLY_ROUTES.map((r): [string, string, unknown] => [
        r.method,
        r.path.replace(":model", "llama3"),
        r.method === "POST" ? { model: "llama3" } : undefined,
      ]),
      ...MANAGEMENT_PATHS.map((p): [string, string, unknown] => [
        "POST",
        p.replace("*", "sha256-00"),
        { model: "llama3" },
      ]),
    ];
    const credentials: Array<[string, Record<string, string>]> = [
      ["the admin bearer", { authorization: `Bearer ${ADMIN_PASSWORD}` }],
      ["an API key", { authorization: `Bearer ${key}` }],
      ["an API key as x-api-key", { "x-api-key": key }],
      ["an admin session", { cookie: session.cookie, "x-csrf-token": session.csrf }],
    ];
    for (const [method, path, body] of routes) {
      for (const [who, headers] of credentials) {
        // API keys sent to /api/* are wrong admin passwords and lock the guessing guard
        // (admin_guessing_test.ts); a minute later it checks again.
        if (who === "the admin bearer") {
          t.clock.set(t.clock.now().add({ seconds: 60 }).toString());
        }
        const res = await fetch(t.gateway.adminUrl + path, {
          method,
          body: body === undefined ? undefined : JSON.stringify(body),
          redirect: "manual",
          headers: { "content-type": "application/json", ...headers },
        });
        const text = await res.text();
        const where = `${method} ${path} with ${who}: ${res.status} ${text.slice(0, 200)}`;
        if (path === "/") {
          // The admin's own home: the keys page for a session, the login page for anyone else.
          assert.equal(res.status, 303, where);
          assert.match(res.headers.get("location") ?? "", /^\/(keys|login)\b/, where);
        } else if (path.startsWith("/api/")) {
          // The admin's JSON API: only the admin bearer gets as far as "no such route"; other
          // bearers are wrong passwords (401), or refused unchecked once they are too many (429).
          if (who === "the admin bearer") assert.equal(res.status, 404, where);
          else assert.ok([401, 429].includes(res.status), where);
        } else if (who === "an admin session") {
          assert.equal(res.status, 404, where);
        } else {
          // Without a session the UI sends everything else to the login page.
          assert.equal(res.status, 303, where);
          assert.match(res.headers.get("location") ?? "", /^\/login\?next=/, where);
        }
        assert.doesNotMatch(text, /Ollama is running|tok0|llama3:latest|"models"/, where);
      }
    }
    assert.deepEqual(t.mock.requests.map((r) => r.path), [], "nothing reached Ollama");
    assert.equal((await t.usage(id)).today.requests, 0);
  },
);
