/**
 * Groups and people: a key's group adds its own limits (the tightest wins), and a delegating key
 * gives every person behind Open WebUI quotas of their own, read from forwarded headers or a
 * signed JWT, believed only from trusted peers.
 * @module
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";

const messages = [{ role: "user", content: "hi" }];
const chat = { model: "llama3", stream: false, messages };
const SECRET = "open-webui-jwt-secret-0123456789";

async function send(
  t: TestGateway,
  key: string,
  headers: Record<string, string> = {},
  path = "/api/chat",
  body: unknown = chat,
) {
  const res = await t.post(path, key, body, headers);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

async function admin(t: TestGateway, method: string, path: string, body?: unknown) {
  const res = await t.admin(path, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const b64url = (s: string | Uint8Array) =>
  (typeof s === "string" ? btoa(s) : btoa(String.fromCharCode(...s))).replaceAll("+", "-")
    .replaceAll("/", "_").replace(/=+$/, "");

/** An HS256 JWT as Open WebUI signs it (or not). */
function jwt(
  claims: Record<string, unknown>,
  { secret = SECRET, alg = "HS256" }: { secret?: string; alg?: string } = {},
): string {
  const head = b64url(JSON.stringify({ alg, typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  if (alg === "none") return `${head}.${body}.`;
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(new Uint8Array(sig))}`;
}

/** Claims of a token valid at the test gateway's clock (2026-06-15T10:00:00Z). */
const claims = (sub: string, extra: Record<string, unknown> = {}) => {
  const now = Date.parse("2026-06-15T10:00:00Z") / 1000;
  return {
    sub,
    email: `${sub}@example.com`,
    name: sub,
    role: "user",
    iss: "open-webui",
    iat: now,
    exp: now + 300,
    ...extra,
  };
};

const person = (id: string, name = id) => ({
  "X-OpenWebUI-User-Id": id,
  "X-OpenWebUI-User-Email": `${id}@example.com`,
  "X-OpenWebUI-User-Name": encodeURIComponent(name),
  "X-OpenWebUI-User-Role": "user",
  "X-OpenWebUI-Chat-Id": `chat-${id}`,
});

gatewayTest("group and key limits both apply: each is the tighter one in turn", async (t) => {
  const group = await admin(t, "POST", "/api/groups", { name: "research", daily_request_limit: 3 });
  assert.equal(group.status, 201, JSON.stringify(group.json));
  // The key allows 5 a day, its group 3: the group refuses the fourth, and says so.
  const roomy = await t.createKey({ daily_request_limit: 5, group_id: group.json.id });
  for (let i = 0; i < 3; i++) assert.equal((await send(t, roomy.key)).status, 200);
  const byGroup = await send(t, roomy.key);
  assert.equal(byGroup.status, 429);
  assert.equal(byGroup.headers.get("x-ratelimit-scope"), "group");
  assert.match(
    JSON.parse(byGroup.text).error,
    /^Team 'research' daily requests used up \(3 requests per day\)/,
  );
  // A second group with room: now the key's own 5 is the tighter.
  const wide = await admin(t, "POST", "/api/groups", { name: "wide", daily_request_limit: 100 });
  const tight = await t.createKey({ daily_request_limit: 2, group_id: wide.json.id });
  for (let i = 0; i < 2; i++) assert.equal((await send(t, tight.key)).status, 200);
  const byKey = await send(t, tight.key);
  assert.equal(byKey.status, 429);
  assert.equal(byKey.headers.get("x-ratelimit-scope"), "key");
  const groups = await admin(t, "GET", "/api/groups");
  const w = groups.json.find((g: { id: number }) => g.id === wide.json.id);
  assert.deepEqual([w.usage.today.requests, w.key_ids], [2, [tight.id]]);
});

gatewayTest("a model must be allowed by the key and by its group", async (t) => {
  const group = await admin(t, "POST", "/api/groups", { name: "small", models: ["llama3.2"] });
  const { key } = await t.createKey({ models: ["llama3", "llama3.2"], group_id: group.json.id });
  assert.equal((await send(t, key, {}, "/api/chat", { ...chat, model: "llama3.2" })).status, 200);
  const refused = await send(t, key);
  assert.equal(refused.status, 403);
  assert.match(JSON.parse(refused.text).error, /"llama3" is not allowed/);
});

gatewayTest("deleting a group with keys is a 409 unless forced, which detaches them", async (t) => {
  const group = await admin(t, "POST", "/api/groups", { name: "g", monthly_token_limit: 10 });
  const { id } = await t.createKey({ group_id: group.json.id });
  assert.equal((await admin(t, "DELETE", `/api/groups/${group.json.id}`)).status, 409);
  assert.equal((await admin(t, "DELETE", `/api/groups/${group.json.id}?force=true`)).status, 204);
  const keys = await admin(t, "GET", "/api/api-keys");
  assert.equal(keys.json.find((k: { id: number }) => k.id === id).group_id, null);
  assert.equal((await admin(t, "PATCH", `/api/api-keys/${id}`, { group_id: 999 })).status, 422);
});

gatewayTest(
  "header mode: each person is a member on first sight, with their own quota",
  async (t) => {
    const { key, id } = await t.createKey({
      identity: "openwebui-headers",
      member_limits: { daily_request_limit: 2 },
    });
    const ana = person("u-ana", "Ana Müller");
    assert.equal((await send(t, key, ana)).status, 200);
    assert.equal((await send(t, key, ana)).status, 200);
    const refused = await send(t, key, ana);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("x-ratelimit-scope"), "member");
    assert.match(
      JSON.parse(refused.text).error,
      /^Your daily request quota \(2\) is used up; it resets at 00:00 Europe\/Berlin \(in 12 h\)/,
    );
    // Someone else through the same key still has theirs.
    assert.equal((await send(t, key, person("u-ben"))).status, 200);
    const members = await admin(t, "GET", `/api/api-keys/${id}/members`);
    assert.deepEqual(
      members.json.map((m: { display_name: string; usage: { today: { requests: number } } }) => [
        m.display_name,
        m.usage.today.requests,
      ]),
      [["Ana Müller", 2], ["u-ben", 1]],
    );
    // Who is asking never reaches Ollama.
    for (const r of t.mock.requests) {
      for (const name of r.headers.keys()) assert.doesNotMatch(name, /openwebui/i);
    }
  },
);

gatewayTest("renamed identity headers are read, and removed before Ollama", async (t) => {
  const { key, id } = await t.createKey({
    identity: "openwebui-headers",
    identity_headers: { user_id: "X-User", name: "X-User-Name" },
  });
  assert.equal(
    (await send(t, key, { "X-User": "u-1", "X-User-Name": encodeURIComponent("Zoë") })).status,
    200,
  );
  const [member] = (await admin(t, "GET", `/api/api-keys/${id}/members`)).json;
  assert.deepEqual([member.external_id, member.name], ["u-1", "Zoë"]);
  assert.equal(t.mock.requests.at(-1)!.headers.get("x-user"), null);
  assert.equal(t.mock.requests.at(-1)!.headers.get("x-user-name"), null);
});

gatewayTest(
  "calls without identity count against one unattributed member, or are refused",
  async (t) => {
    const open = await t.createKey({
      identity: "openwebui-headers",
      member_limits: { daily_request_limit: 1 },
    });
    assert.equal((await send(t, open.key)).status, 200);
    const second = await send(t, open.key);
    assert.equal(second.status, 429, "the shared unattributed member has the template's limits");
    const [member] = (await admin(t, "GET", `/api/api-keys/${open.id}/members`)).json;
    assert.equal(member.display_name, "unattributed");
    const strict = await t.createKey({
      identity: "openwebui-headers",
      on_missing_identity: "reject",
    });
    const refused = await send(t, strict.key);
    assert.equal(refused.status, 401);
    assert.match(JSON.parse(refused.text).error, /needs to know who is asking/);
    // Listings never need identity.
    const tags = await t.proxy("/api/tags", { headers: { authorization: `Bearer ${strict.key}` } });
    assert.equal(tags.status, 200);
    await tags.body?.cancel();
  },
);

gatewayTest("two delegating keys with the same user id have separate members", async (t) => {
  const a = await t.createKey({
    identity: "openwebui-headers",
    member_limits: { daily_request_limit: 1 },
  });
  const b = await t.createKey({
    identity: "openwebui-headers",
    member_limits: { daily_request_limit: 1 },
  });
  assert.equal((await send(t, a.key, person("same"))).status, 200);
  assert.equal((await send(t, b.key, person("same"))).status, 200);
  assert.equal((await send(t, a.key, person("same"))).status, 429);
  const [ma] = (await admin(t, "GET", `/api/api-keys/${a.id}/members`)).json;
  const [mb] = (await admin(t, "GET", `/api/api-keys/${b.id}/members`)).json;
  assert.notEqual(ma.id, mb.id);
});

gatewayTest("an admin can block a person or give them limits of their own", async (t) => {
  const { key, id } = await t.createKey({
    identity: "openwebui-headers",
    member_limits: { daily_request_limit: 1 },
  });
  assert.equal((await send(t, key, person("u-c"))).status, 200);
  const [member] = (await admin(t, "GET", `/api/api-keys/${id}/members`)).json;
  const raised = await admin(t, "PATCH", `/api/api-keys/${id}/members/${member.id}`, {
    limits: { daily_request_limit: 5 },
  });
  assert.deepEqual([raised.json.limits.daily_request_limit, raised.json.limits_overridden], [
    5,
    true,
  ]);
  assert.equal((await send(t, key, person("u-c"))).status, 200);
  const blocked = await admin(t, "PATCH", `/api/api-keys/${id}/members/${member.id}`, {
    blocked: true,
  });
  assert.equal(blocked.json.blocked, true);
  const refused = await send(t, key, person("u-c"));
  assert.equal(refused.status, 403);
  assert.match(JSON.parse(refused.text).error, /blocked your access/);
  const back = await admin(t, "PATCH", `/api/api-keys/${id}/members/${member.id}`, {
    blocked: false,
    limits: null,
  });
  assert.deepEqual([back.json.limits.daily_request_limit, back.json.limits_overridden], [1, false]);
});

gatewayTest(
  "JWT mode: a good token is a member; forged, unsigned and expired ones are 401",
  async (t) => {
    const missing = await admin(t, "POST", "/api/api-keys", {
      name: "j",
      identity: "openwebui-jwt",
    });
    assert.equal(missing.status, 422, "a JWT identity needs its secret");
    const { key, id } = await t.createKey({
      identity: "openwebui-jwt",
      identity_secret: SECRET,
      member_limits: { daily_request_limit: 10 },
    });
    const keys = await admin(t, "GET", "/api/api-keys");
    const shown = keys.json.find((k: { id: number }) => k.id === id);
    assert.equal(shown.has_identity_secret, true);
    assert.equal(JSON.stringify(keys.json).includes(SECRET), false, "the secret is never shown");
    const header = "X-OpenWebUI-User-Jwt";
    assert.equal((await send(t, key, { [header]: jwt(claims("u-jwt")) })).status, 200);
    const [member] = (await admin(t, "GET", `/api/api-keys/${id}/members`)).json;
    assert.deepEqual([member.external_id, member.email], ["u-jwt", "u-jwt@example.com"]);
    const now = Date.parse("2026-06-15T10:00:00Z") / 1000;
    const bad: Array<[string, string, RegExp]> = [
      [
        "wrong signature",
        jwt(claims("u-x"), { secret: "another-secret-0123456789abc" }),
        /signature/,
      ],
      ["alg none", jwt(claims("u-x"), { alg: "none" }), /HS256/],
      ["alg HS512", jwt(claims("u-x"), { alg: "HS512" }), /HS256/],
      ["expired", jwt(claims("u-x", { exp: now - 61 })), /expired/],
      ["issued in the future", jwt(claims("u-x", { iat: now + 120 })), /future/],
      ["another issuer", jwt(claims("u-x", { iss: "someone" })), /issuer/],
      ["garbage", "not.a.jwt", /not/],
    ];
    for (const [what, token, message] of bad) {
      const res = await send(t, key, { [header]: token });
      assert.equal(res.status, 401, what);
      const error = JSON.parse(res.text).error;
      assert.match(error, /^Invalid identity: /, what);
      assert.match(error, message, what);
    }
    // Within the 60 s skew, both ways.
    assert.equal(
      (await send(t, key, { [header]: jwt(claims("u-y", { exp: now - 30 })) })).status,
      200,
    );
    assert.equal(
      (await send(t, key, { [header]: jwt(claims("u-z", { iat: now + 30 })) })).status,
      200,
    );
    // Open WebUI's plain headers mean nothing to a JWT key: the token decides.
    assert.equal((await send(t, key, person("u-forged"))).status, 200);
    const names = (await admin(t, "GET", `/api/api-keys/${id}/members`)).json.map((
      m: { external_id: string },
    ) => m.external_id);
    assert.ok(!names.includes("u-forged"), "headers are not identity in JWT mode");
    for (const r of t.mock.requests) assert.equal(r.headers.get("x-openwebui-user-jwt"), null);
  },
);

gatewayTest("a delegating key is refused from an untrusted peer", async (t) => {
  const { key } = await t.createKey({
    identity: "openwebui-headers",
    trusted_peers: ["10.0.0.0/8"],
  });
  const res = await send(t, key, person("u-1"));
  assert.equal(res.status, 403);
  assert.match(JSON.parse(res.text).error, /accepted only from its trusted front end/);
  assert.equal(t.mock.inferenceCount(), 0);
  // X-Forwarded-For is not believed without TRUSTED_PROXIES.
  const forwarded = await send(t, key, { ...person("u-1"), "x-forwarded-for": "10.1.2.3" });
  assert.equal(forwarded.status, 403);
});

gatewayTest(
  "X-Forwarded-For from a trusted proxy names the peer",
  async (t) => {
    const { key } = await t.createKey({
      identity: "openwebui-headers",
      trusted_peers: ["10.1.2.3"],
    });
    const res = await send(t, key, { ...person("u-1"), "x-forwarded-for": "10.1.2.3" });
    assert.equal(res.status, 200, res.text);
    const spoof = await send(t, key, {
      ...person("u-1"),
      "x-forwarded-for": "10.1.2.3, 192.0.2.7",
    });
    assert.equal(spoof.status, 403, "the rightmost untrusted hop is the client");
  },
  { env: { TRUSTED_PROXIES: "127.0.0.1/32" } },
);

gatewayTest("key, group and member limits hold together in one admission", async (t) => {
  const group = await admin(t, "POST", "/api/groups", {
    name: "team",
    daily_token_limit: 100_000,
    daily_request_limit: 4,
  });
  const { key } = await t.createKey({
    group_id: group.json.id,
    identity: "openwebui-headers",
    member_limits: { daily_request_limit: 3 },
  });
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => send(t, key, person(i % 2 ? "odd" : "even"))),
  );
  // Each person may do 3, the team 4: exactly 4 pass.
  assert.equal(results.filter((r) => r.status === 200).length, 4);
  const scopes = new Set(
    results.filter((r) => r.status === 429).map((r) => r.headers.get("x-ratelimit-scope")),
  );
  for (const s of scopes) assert.ok(s === "group" || s === "member", String(s));
});
