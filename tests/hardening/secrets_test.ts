/**
 * Secrets: no error body carries the key (or password) that was presented, nor its hash; logs
 * name a key only by its display prefix. (Every gatewayTest's close() also fails on a created
 * key, its hash or the admin password in any log line, at LOG_LEVEL debug.)
 * @module
 */
import assert from "node:assert/strict";
import { displayPrefix, generateApiKey, hashApiKey } from "../../core/secrets.ts";
import { formatStartupReport, gatherStartupFacts } from "../../ops/startup_report.ts";
import { ADMIN_PASSWORD, gatewayTest, type TestGateway } from "../support/gateway.ts";
import { signIn } from "./admin_session.ts";
import { messages, VALID_BODIES } from "./requests.ts";

/**
 * The telling parts of a secret: itself, its hash, and every run of 6 characters of what follows
 * its display prefix (an excerpt of a key is a leak too; the prefix alone is safe to show).
 */
function fragments(secret: string): string[] {
  const hidden = secret.slice(displayPrefix(secret).length);
  const runs = Array.from({ length: hidden.length - 5 }, (_, i) => hidden.slice(i, i + 6));
  return [secret, hashApiKey(secret), ...runs];
}

/** Fails when `text` holds any fragment of any secret. */
function assertNoSecret(text: string, secrets: string[], where: string) {
  for (const secret of secrets) {
    for (const fragment of fragments(secret)) {
      assert.ok(!text.includes(fragment), `${where}: the answer holds ${fragment}:\n${text}`);
    }
  }
}

/** The ways a client presents a key. */
const PRESENTATIONS: Array<[string, (key: string) => Record<string, string>]> = [
  ["Authorization: Bearer", (key) => ({ authorization: `Bearer ${key}` })],
  ["bare Authorization", (key) => ({ authorization: key })],
  ["x-api-key", (key) => ({ "x-api-key": key })],
];

/** A route of each client family, with a valid body. */
const FAMILY_ROUTES = ["/api/chat", "/v1/chat/completions", "/v1/messages", "/api/tags"];

async function send(t: TestGateway, path: string, headers: Record<string, string>, body?: string) {
  const method = path === "/api/tags" ? "GET" : "POST";
  const res = await t.proxy(path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: method === "GET" ? undefined : (body ?? JSON.stringify(VALID_BODIES[path])),
  });
  return { status: res.status, text: await res.text() };
}

gatewayTest("error bodies never contain the presented key or its hash", async (t) => {
  const { key } = await t.createKey({ daily_request_limit: 1 });
  const { key: deactivated, id: deactivatedId } = await t.createKey({ name: "off" });
  const { key: expired } = await t.createKey({ name: "old", expires_at: "2026-06-20" });
  const off = await t.admin(`/api/api-keys/${deactivatedId}/deactivate`, { method: "PUT" });
  assert.equal(off.status, 200);
  await off.body?.cancel();
  t.clock.set("2026-07-01T10:00:00Z");
  // One character changed: right prefix, wrong key.
  const wrong = key.slice(0, -1) + (key.endsWith("A") ? "B" : "A");
  const unknown = generateApiKey();

  // 401: unknown, wrong, deactivated, expired; and the admin password offered as a key.
  const refused: Array<[string, string, RegExp]> = [
    ["a wrong key", wrong, /Invalid API key/],
    ["an unknown key", unknown, /Invalid API key/],
    ["a deactivated key", deactivated, /deactivated/],
    ["an expired key", expired, /expired/],
    ["the admin password", ADMIN_PASSWORD, /Invalid API key/],
  ];
  for (const [what, presented, message] of refused) {
    for (const [how, headers] of PRESENTATIONS) {
      for (const path of FAMILY_ROUTES) {
        const res = await send(t, path, headers(presented));
        const where = `${what} as ${how} on ${path}`;
        assert.equal(res.status, 401, where);
        assert.match(res.text, message, where);
        assertNoSecret(res.text, [presented], where);
      }
    }
  }

  // 429: the only request of the day went through, the next one is refused.
  const first = await send(t, "/api/chat", { authorization: `Bearer ${key}` });
  assert.equal(first.status, 200);
  for (const [how, headers] of PRESENTATIONS) {
    for (const path of FAMILY_ROUTES.filter((p) => p !== "/api/tags")) {
      const res = await send(t, path, headers(key));
      assert.equal(res.status, 429, `${how} on ${path}`);
      assertNoSecret(res.text, [key], `429 for ${how} on ${path}`);
    }
  }

  // 400 with the key in the body: JSON errors must not quote the text around the mistake.
  const { key: other } = await t.createKey({ name: "other" });
  const bodies = [
    other,
    `${other} {"model":"llama3"}`,
    `{"model":"llama3","messages":[${JSON.stringify({ role: "user", content: other })},]}`,
    `{"model":"llama3","messages":[{"role":"user","content":"${other}"}] x}`,
    `{"model":"${other}",'x':1}`,
    `{"messages":${JSON.stringify(messages)},"api_key":${other}}`,
    `{"messages":${JSON.stringify(messages)},"api_key":"${other}`,
    JSON.stringify({ messages: other, max_tokens: other, model: { key: other } }),
    JSON.stringify({ messages: [{ role: other.length, content: other }] }),
  ];
  for (const body of bodies) {
    for (const path of FAMILY_ROUTES.filter((p) => p !== "/api/tags")) {
      const res = await send(t, path, { authorization: `Bearer ${other}` }, body);
      const where = `400 on ${path} for ${body.slice(0, 60)}`;
      assert.equal(res.status, 400, where);
      assertNoSecret(res.text, [other], where);
    }
  }

  // A body over MAX_BODY_BYTES, and a route that does not exist, with the key in both.
  const big = await send(t, "/api/chat", { authorization: `Bearer ${other}` }, other.repeat(200));
  assert.equal(big.status, 413);
  assertNoSecret(big.text, [other], "413");
  const nowhere = await t.proxy("/api/nowhere", { headers: { authorization: `Bearer ${other}` } });
  assert.equal(nowhere.status, 404);
  assertNoSecret(await nowhere.text(), [other], "404");
}, { env: { MAX_BODY_BYTES: "4096" } });

gatewayTest("admin error bodies never contain a presented password", async (t) => {
  const guesses = ["wrong-password-1234", `${ADMIN_PASSWORD}x`, ADMIN_PASSWORD.slice(0, -1)];
  for (const guess of guesses) {
    const api = await fetch(`${t.gateway.adminUrl}/api/api-keys`, {
      headers: { authorization: `Bearer ${guess}` },
    });
    assert.equal(api.status, 401);
    const apiText = await api.text();
    assert.ok(!apiText.includes(guess), apiText);

    const login = await fetch(`${t.gateway.adminUrl}/login`, {
      method: "POST",
      body: new URLSearchParams({ password: guess, next: "/keys" }),
      redirect: "manual",
    });
    assert.equal(login.status, 401);
    const page = await login.text();
    assert.match(page, /Wrong password/);
    assert.ok(!page.includes(guess), "the login page does not fill the password back in");
  }
  // The real password is not shown in any error either.
  const invalid = await t.admin("/api/api-keys", {
    method: "POST",
    body: JSON.stringify({ name: ADMIN_PASSWORD, daily_request_limit: -1 }),
  });
  assert.equal(invalid.status, 422);
  assert.ok(!(await invalid.text()).includes(ADMIN_PASSWORD));
});

gatewayTest("logged keys appear only as their display prefix", async (t) => {
  const { key } = await t.createKey({ daily_request_limit: 2 });
  const unknown = generateApiKey();
  const auth = { authorization: `Bearer ${key}` };
  assert.equal((await send(t, "/api/chat", auth)).status, 200);
  assert.equal((await send(t, "/v1/chat/completions", auth)).status, 200);
  assert.equal((await send(t, "/v1/messages", auth)).status, 429);
  assert.equal((await send(t, "/api/tags", auth)).status, 200);
  assert.equal((await send(t, "/api/chat", auth, `{"model":"${key}",}`)).status, 400);
  assert.equal((await send(t, "/api/chat", { "x-api-key": unknown })).status, 401);
  assert.equal((await send(t, "/api/chat", { authorization: unknown })).status, 401);

  const prefix = displayPrefix(key);
  const mentioning = t.logs.filter((line) => line.includes(prefix));
  // Each answered request of the key was logged under its prefix, and the key's creation too.
  assert.ok(
    mentioning.filter((l) => l.includes(`key_prefix="${prefix}"`)).length >= 5,
    mentioning.join("\n"),
  );
  assert.ok(mentioning.some((l) => l.includes("api key created") && l.includes(`"${prefix}"`)));
  for (const line of t.logs) {
    assertNoSecret(line, [key], "log line");
    // A key that matched nothing is not logged at all, not even its prefix.
    assert.ok(!line.includes(displayPrefix(unknown)), line);
    assert.ok(!line.includes(hashApiKey(unknown)), line);
  }
});

/** The `route` of every request line in the logs. */
function loggedRoutes(t: TestGateway): string[] {
  return t.logs.flatMap((line) => {
    const route = / request .*\broute=("(?:[^"\\]|\\.)*")/.exec(line)?.[1];
    return route ? [JSON.parse(route) as string] : [];
  });
}

gatewayTest(
  "a key a client puts into the URL path is logged and echoed only as sk-***, also percent-encoded",
  async (t) => {
    const { key } = await t.createKey();
    const rest = key.slice(3);
    const auth = { authorization: `Bearer ${key}` };
    // [path sent, how the request line names it]
    const proxyPaths: Array<[string, string]> = [
      [`/${key}/api/chat`, "/sk-***/api/chat"],
      [`/api/chat/${key}`, "/api/chat/sk-***"],
      [`/%73%6B%2D${rest}/api/tags`, "/sk-***/api/tags"],
      [`/v1/models/%2573k%252d${rest}`, "/v1/models/sk-***"],
      [`/api/tags/Bearer%20${key}`, "/api/tags/Bearer sk-***"],
      // Not a key: `sk-` inside a word.
      ["/api/task-list", "/api/task-list"],
    ];
    for (const [path] of proxyPaths) {
      const res = await t.proxy(path, { method: "POST", headers: auth });
      assert.equal(res.status, 404, path);
      assertNoSecret(await res.text(), [key], `404 for ${path}`);
    }
    const unauthenticated = await t.proxy(`/api/chat/${key}`, { method: "POST" });
    assert.equal(unauthenticated.status, 401);
    await unauthenticated.body?.cancel();
    const adminApi = await t.admin(`/api/${key}`);
    assert.equal(adminApi.status, 404);
    assertNoSecret(await adminApi.text(), [key], "admin API 404");
    const adminUi = await fetch(`${t.gateway.adminUrl}/${key}`, { redirect: "manual" });
    await adminUi.body?.cancel();

    const routes = loggedRoutes(t);
    for (const [path, logged] of proxyPaths) {
      assert.ok(routes.includes(logged), `${path} is logged as ${logged}: ${routes.join(" ")}`);
    }
    assert.ok(routes.includes("/api/sk-***"), routes.join(" "));
    assert.ok(routes.includes("/sk-***"), routes.join(" "));
    for (const line of t.logs) assertNoSecret(line, [key], "log line");
  },
);

gatewayTest(
  "an Ollama URL with a user and password is logged and shown as http://***@host",
  async (t) => {
    const user = "ollama-user";
    const password = "ollama-pa55-w0rd";
    const port = new URL(t.mock.url).port;
    const live = `http://${user}:${password}@127.0.0.1:${port}`;
    const dead = `http://${user}:${password}@127.0.0.1:1`;
    const session = await signIn(t.gateway.adminUrl);
    const form = (path: string, fields: Record<string, string>) =>
      fetch(`${t.gateway.adminUrl}${path}`, {
        method: "POST",
        headers: { cookie: session.cookie },
        body: new URLSearchParams({ _csrf: session.csrf, ...fields }),
      });
    // The URL field itself holds the stored URL, to be edited; all else names it without its
    // credentials.
    const page = async (res: Response) =>
      (await res.text()).replace(/<input id="ollama_url"[^>]*>/g, "<input id=ollama_url>");
    const shown: Array<[string, string]> = [];

    const saved = await form("/settings", { ollama_url: live, default_model: "llama3" });
    assert.equal(saved.status, 200);
    shown.push(["settings saved", await page(saved)]);
    assert.equal((await t.gateway.deps.settings.get()).ollama_url, live, "stored as given");
    const tested = await form("/settings/test", { ollama_url: live });
    const testedText = await page(tested);
    assert.match(
      testedText,
      new RegExp(`Connected to Ollama [^<]* at http://\\*\\*\\*@127\\.0\\.0\\.1:${port}`),
    );
    shown.push(["connection test", testedText]);

    const down = await form("/settings", { ollama_url: dead, default_model: "llama3" });
    const downText = await page(down);
    assert.match(downText, /Cannot reach Ollama at http:\/\/\*\*\*@127\.0\.0\.1:1/);
    shown.push(["settings with Ollama down", downText]);
    const failedTest = await form("/settings/test", { ollama_url: dead });
    shown.push(["failed connection test", await page(failedTest)]);
    const models = await t.admin("/api/ollama-models");
    assert.equal(models.status, 502);
    shown.push(["model list", await models.text()]);
    const facts = await gatherStartupFacts(
      t.gateway.deps,
      t.gateway.proxyUrl,
      t.gateway.adminUrl,
      1000,
    );
    assert.equal(facts.ollamaUrl, "http://***@127.0.0.1:1");
    shown.push(["start-up report", formatStartupReport(facts, t.gateway.deps.config)]);

    const changes = t.logs.filter((line) => line.includes("settings changed"));
    assert.equal(changes.length, 2, changes.join("\n"));
    assert.match(changes[0], new RegExp(`ollama_url="http://\\*\\*\\*@127\\.0\\.0\\.1:${port}"`));
    shown.push(...t.logs.map((line): [string, string] => ["log line", line]));
    for (const [where, text] of shown) {
      for (const secret of [password, `${user}:`]) {
        assert.ok(!text.includes(secret), `${where} shows ${secret}:\n${text}`);
      }
    }
  },
);
