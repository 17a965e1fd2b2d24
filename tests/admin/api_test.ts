import assert from "node:assert/strict";
import { gatewayTest } from "../support/gateway.ts";

gatewayTest("the admin API refuses calls without the admin password", async (t) => {
  for (const authorization of [undefined, "Bearer wrong-password", "test-admin-password"]) {
    const res = await fetch(t.gateway.adminUrl + "/api/api-keys", {
      headers: authorization ? { authorization } : {},
    });
    assert.equal(res.status, 401);
    await res.body?.cancel();
  }
});

gatewayTest("a created key is shown once; lists never carry the key or its hash", async (t) => {
  const res = await t.admin("/api/api-keys", {
    method: "POST",
    body: JSON.stringify({ name: "Alice", daily_request_limit: 5, monthly_token_limit: null }),
  });
  assert.equal(res.status, 201);
  const created = await res.json();
  assert.match(created.key, /^sk-[A-Za-z0-9_-]{43,}$/);
  assert.equal(created.prefix, created.key.slice(0, 11));
  assert.equal(created.daily_request_limit, 5);
  assert.equal(created.monthly_token_limit, null);
  assert.equal(created.active, true);
  const listText = await (await t.admin("/api/api-keys")).text();
  assert.ok(!listText.includes(created.key));
  assert.ok(!listText.includes("key_hash"));
  const [listed] = JSON.parse(listText);
  assert.deepEqual(listed.usage.today, {
    requests: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    tokens: 0,
  });
  assert.equal(listed.status, "active");
});

gatewayTest("validation errors are 422 and name the field", async (t) => {
  const cases: Array<[string, string, unknown, string]> = [
    ["POST", "/api/api-keys", { name: "" }, "name"],
    ["POST", "/api/api-keys", { name: "x", daily_request_limit: -1 }, "daily_request_limit"],
    ["POST", "/api/api-keys", { name: "x", monthly_token_limit: 1.5 }, "monthly_token_limit"],
    ["POST", "/api/api-keys", { name: "x", expires_at: "next tuesday" }, "expires_at"],
    ["POST", "/api/api-keys", { name: "x", daily_limit: 3 }, "daily_limit"],
    ["PUT", "/api/settings", { ollama_url: "not a url" }, "ollama_url"],
  ];
  for (const [method, path, body, field] of cases) {
    const res = await t.admin(path, { method, body: JSON.stringify(body) });
    assert.equal(res.status, 422, JSON.stringify(body));
    const err = await res.json();
    assert.equal(err.field, field);
    assert.match(err.error, new RegExp(field));
  }
  const badJson = await t.admin("/api/api-keys", { method: "POST", body: "{" });
  assert.equal(badJson.status, 400);
  await badJson.body?.cancel();
});

gatewayTest("limits, name and expiry can be changed; null means unlimited", async (t) => {
  const { id, key } = await t.createKey({ daily_request_limit: 1 });
  const chat = { model: "llama3", stream: false, messages: [{ role: "user", content: "x" }] };
  await (await t.post("/api/chat", key, chat)).body?.cancel();
  const refused = await t.post("/api/chat", key, chat);
  assert.equal(refused.status, 429);
  await refused.body?.cancel();
  const patched = await t.admin(`/api/api-keys/${id}/quota`, {
    method: "PATCH",
    body: JSON.stringify({ daily_request_limit: null, monthly_request_limit: 10 }),
  });
  assert.equal(patched.status, 200);
  const body = await patched.json();
  assert.equal(body.daily_request_limit, null);
  assert.equal(body.monthly_request_limit, 10);
  const again = await t.post("/api/chat", key, chat);
  assert.equal(again.status, 200);
  await again.body?.cancel();
  const renamed = await (await t.admin(`/api/api-keys/${id}`, {
    method: "PATCH",
    body: JSON.stringify({ name: "Bob", expires_at: "2027-01-01T00:00:00Z" }),
  })).json();
  assert.equal(renamed.name, "Bob");
  assert.equal(renamed.expires_at, "2027-01-01T00:00:00.000Z");
  assert.equal(renamed.monthly_request_limit, 10);
});

gatewayTest("deactivate, activate and delete a key", async (t) => {
  const { id, key } = await t.createKey();
  const chat = { model: "llama3", stream: false, messages: [{ role: "user", content: "x" }] };
  const off = await t.admin(`/api/api-keys/${id}/deactivate`, { method: "PUT" });
  assert.equal((await off.json()).status, "deactivated");
  const refused = await t.post("/api/chat", key, chat);
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  await (await t.admin(`/api/api-keys/${id}/activate`, { method: "PUT" })).body?.cancel();
  const ok = await t.post("/api/chat", key, chat);
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  const del = await t.admin(`/api/api-keys/${id}`, { method: "DELETE" });
  assert.equal(del.status, 204);
  const gone = await t.post("/api/chat", key, chat);
  assert.equal(gone.status, 401);
  await gone.body?.cancel();
  const missing = await t.admin(`/api/api-keys/${id}`, { method: "DELETE" });
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});

gatewayTest("a settings change applies to the next request without a restart", async (t) => {
  const { key } = await t.createKey();
  const settings = await (await t.admin("/api/settings")).json();
  assert.deepEqual([settings.ollama_url, settings.default_model], [t.mock.url, "llama3"]);
  const noModel = { stream: false, messages: [{ role: "user", content: "x" }] };
  await (await t.post("/api/chat", key, noModel)).body?.cancel();
  assert.equal((t.mock.requests.at(-1)!.body as { model: string }).model, "llama3");
  const put = await t.admin("/api/settings", {
    method: "PUT",
    body: JSON.stringify({ default_model: "llama3.2" }),
  });
  assert.equal((await put.json()).default_model, "llama3.2");
  await (await t.post("/api/chat", key, { ...noModel, model: "" })).body?.cancel();
  assert.equal((t.mock.requests.at(-1)!.body as { model: string }).model, "llama3.2");

  // Point the gateway at a port where nothing listens: the next request fails with 502.
  const dead = await t.admin("/api/settings", {
    method: "PUT",
    body: JSON.stringify({ ollama_url: "http://127.0.0.1:9" }),
  });
  assert.equal(dead.status, 200);
  await dead.body?.cancel();
  const res = await t.post("/api/chat", key, noModel);
  assert.equal(res.status, 502);
  await res.body?.cancel();
});

gatewayTest(
  "the Ollama model list is read through the admin API; Ollama down gives 502",
  async (t) => {
    const list = await (await t.admin("/api/ollama-models")).json();
    assert.ok(list.models.some((m: { name: string }) => m.name === "llama3:latest"));
    await (await t.admin("/api/settings", {
      method: "PUT",
      body: JSON.stringify({ ollama_url: "http://127.0.0.1:9" }),
    })).body?.cancel();
    const down = await t.admin("/api/ollama-models");
    assert.equal(down.status, 502);
    assert.match((await down.json()).error, /Cannot reach Ollama/);
  },
);

gatewayTest("proxy info gives the base URLs for Ollama and OpenAI clients", async (t) => {
  const info = await (await t.admin("/api/proxy-info")).json();
  const port = new URL(t.gateway.proxyUrl).port;
  assert.equal(info.ollama_base_url, `http://127.0.0.1:${port}`);
  assert.equal(info.openai_base_url, `http://127.0.0.1:${port}/v1`);
  assert.equal(info.source, "loopback", "it says the address works on this machine only");
});

gatewayTest("a public URL set through the API is what proxy info gives clients", async (t) => {
  const put = (public_url: unknown) =>
    t.admin("/api/settings", { method: "PUT", body: JSON.stringify({ public_url }) });
  const saved = await put("https://llm.example.com/gw/");
  assert.equal(saved.status, 200);
  assert.equal((await saved.json()).public_url, "https://llm.example.com/gw");
  assert.deepEqual(await (await t.admin("/api/proxy-info")).json(), {
    ollama_base_url: "https://llm.example.com/gw",
    openai_base_url: "https://llm.example.com/gw/v1",
    source: "setting",
  });
  for (const bad of ["ftp://x", "http://u:p@x", "http://x/?q", 5]) {
    const res = await put(bad);
    assert.equal(res.status, 422, String(bad));
    assert.match((await res.json()).error, /^public_url: must be an http\(s\) URL/);
  }
  const cleared = await put(null);
  assert.equal((await cleared.json()).public_url, "");
  assert.equal((await (await t.admin("/api/proxy-info")).json()).source, "loopback");
});

gatewayTest(
  "the settings API shows a password in the Ollama URL as *** and keeps it when that comes back",
  async (t) => {
    const password = "settings-pw-0c4e2a";
    const secretUrl = t.mock.url.replace("://", `://ollama:${password}@`);
    const put = await t.admin("/api/settings", {
      method: "PUT",
      body: JSON.stringify({ ollama_url: secretUrl }),
    });
    assert.equal(put.status, 200);
    const putText = await put.text();
    assert.doesNotMatch(putText, new RegExp(password));
    const got = await t.admin("/api/settings");
    const gotText = await got.text();
    assert.doesNotMatch(gotText, new RegExp(password), "no password in GET /api/settings");
    const shown = JSON.parse(gotText).ollama_url;
    assert.equal(shown, t.mock.url.replace("://", "://***@"));
    // What GET showed, sent back with another change: the credentials stay.
    const back = await t.admin("/api/settings", {
      method: "PUT",
      body: JSON.stringify({ ollama_url: shown, default_model: "llama3.2" }),
    });
    assert.equal(back.status, 200);
    assert.equal((await back.json()).ollama_url, shown);
    const { key } = await t.createKey();
    t.mock.requests.length = 0;
    const res = await t.post("/api/chat", key, {
      model: "llama3",
      stream: false,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(res.status, 200, await res.text());
    const chat = t.mock.requests.find((r) => r.path === "/api/chat");
    assert.equal(chat?.headers.get("authorization"), `Basic ${btoa(`ollama:${password}`)}`);
  },
);
