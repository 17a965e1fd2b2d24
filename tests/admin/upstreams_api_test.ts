/**
 * The Ollama boxes through the admin JSON API: seeded at the first start, added, changed,
 * disabled and deleted while the gateway runs, the token write-only, the one-box Ollama URL.
 * @module
 */
import assert from "node:assert/strict";
import { gatewayTest } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { rawQuery } from "../support/raw_query.ts";
import { until } from "../support/several_boxes.ts";

const TOKEN = "box-token-7f3a9c";
const messages = [{ role: "user", content: "hi" }];

gatewayTest("the first start makes one box of OLLAMA_URL; the API lists it", async (t) => {
  const res = await t.admin("/api/upstreams");
  assert.equal(res.status, 200);
  const [box, ...rest] = await res.json();
  assert.deepEqual(rest, []);
  const host = new URL(t.mock.url).host;
  assert.deepEqual(
    [box.name, box.url, box.has_token, box.enabled, box.max_in_flight, box.routed],
    [host, t.mock.url, false, true, null, false],
    "a lone box keeps no limit at the gateway, as before",
  );
  assert.equal("token" in box || "token_sealed" in box, false);
  // The settings API's ollama_url is that box's URL.
  assert.equal((await (await t.admin("/api/settings")).json()).ollama_url, t.mock.url);
});

gatewayTest(
  "a box added with a token is probed at once with it, gets requests with it, and never shows it",
  async (t) => {
    const second = await startMockOllama({ models: ["qwen3:8b"] });
    try {
      const { key } = await t.createKey();
      const res = await t.admin("/api/upstreams", {
        method: "POST",
        body: JSON.stringify({
          name: "gpu2",
          url: second.url + "/",
          token: TOKEN,
          max_in_flight: 2,
        }),
      });
      assert.equal(res.status, 201);
      const text = await res.text();
      assert.doesNotMatch(text, new RegExp(TOKEN));
      const created = JSON.parse(text);
      assert.deepEqual(
        [created.name, created.url, created.has_token, created.max_in_flight, created.routed],
        ["gpu2", second.url, true, 2, true],
      );
      // Probed at once (no request needed), with its token.
      await until(
        () => second.requests.some((r) => r.path === "/api/version"),
        "the new box to be probed",
      );
      const probe = second.requests.find((r) => r.path === "/api/version")!;
      assert.equal(probe.headers.get("authorization"), `Bearer ${TOKEN}`);
      await until(async () => {
        const boxes = await (await t.admin("/api/upstreams")).json();
        return boxes[1]?.models?.includes("qwen3:8b");
      }, "its tags");
      // Only the new box has qwen3: the request goes there, with the box's token.
      const chat = await t.post("/api/chat", key, { model: "qwen3:8b", messages, stream: false });
      assert.equal(chat.status, 200);
      await chat.body?.cancel();
      const sent = second.requests.find((r) => r.path === "/api/chat")!;
      assert.equal(sent.headers.get("authorization"), `Bearer ${TOKEN}`);
      assert.equal(t.mock.inferenceCount(), 0);
      // The request log says which box answered.
      await until(async () => {
        const rows = await rawQuery(
          t.dialect,
          t.db.url,
          "SELECT upstream FROM request_log WHERE state = 'settled'",
        );
        return rows.length === 1 && rows[0].upstream === "gpu2";
      }, "the request log to name the box");
      const listed = await (await t.admin("/api/upstreams")).text();
      assert.doesNotMatch(listed, new RegExp(TOKEN));
      assert.equal(t.logs.some((l) => l.includes(TOKEN)), false, "never logged");
      const [row] = await rawQuery(
        t.dialect,
        t.db.url,
        "SELECT token FROM upstreams WHERE name = ?",
        [
          "gpu2",
        ],
      );
      assert.doesNotMatch(String(row.token), new RegExp(TOKEN), "sealed at rest");
    } finally {
      await second.close();
    }
  },
);

gatewayTest(
  "changes apply without a restart: disable, re-enable (probed at once), delete",
  async (t) => {
    const second = await startMockOllama({ models: ["qwen3:8b"] });
    try {
      const { key } = await t.createKey();
      const created = await (await t.admin("/api/upstreams", {
        method: "POST",
        body: JSON.stringify({ name: "gpu2", url: second.url }),
      })).json();
      assert.equal(created.max_in_flight, 1, "an added box takes one request at a time");
      const listsQwen = async () =>
        (await (await t.admin("/api/upstreams")).json())[1]?.models?.includes("qwen3:8b");
      await until(listsQwen, "the new box's tags");
      const ask = async () => {
        const res = await t.post("/api/chat", key, { model: "qwen3:8b", messages, stream: false });
        await res.body?.cancel();
        return res.status;
      };
      assert.equal(await ask(), 200);

      const off = await t.admin(`/api/upstreams/${created.id}`, {
        method: "PATCH",
        body: JSON.stringify({ enabled: false }),
      });
      assert.equal(off.status, 200);
      assert.equal((await off.json()).state, "disabled");
      assert.equal(await ask(), 404, "no enabled box has the model");

      second.requests.splice(0);
      const on = await t.admin(`/api/upstreams/${created.id}`, {
        method: "PATCH",
        body: JSON.stringify({ enabled: true }),
      });
      assert.equal(on.status, 200);
      await until(
        () => second.requests.some((r) => r.path === "/api/tags"),
        "the re-enabled box to be probed",
      );
      await until(listsQwen, "its tags again");
      assert.equal(await ask(), 200);

      const gone = await t.admin(`/api/upstreams/${created.id}`, { method: "DELETE" });
      assert.equal(gone.status, 204);
      assert.equal((await (await t.admin("/api/upstreams")).json()).length, 1);
      assert.equal(await ask(), 404);
      assert.equal(second.inferenceCount(), 1, "one since the requests were cleared");
    } finally {
      await second.close();
    }
  },
);

gatewayTest("bad input gets the admin API's JSON errors: 404, 409, 422, 400", async (t) => {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await t.admin(path, {
      method,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
  const [seeded] = (await call("GET", "/api/upstreams")).body;
  const cases: Array<[string, string, unknown, number, RegExp, string?]> = [
    ["PATCH", "/api/upstreams/999", { enabled: false }, 404, /Ollama box not found/],
    ["DELETE", "/api/upstreams/999", undefined, 404, /Ollama box not found/],
    ["PATCH", "/api/upstreams/abc", { enabled: false }, 404, /Ollama box not found/],
    ["POST", "/api/upstreams", { url: "ftp://x" }, 422, /^url: /, "url"],
    ["POST", "/api/upstreams", { name: "x" }, 422, /^url: /, "url"],
    ["POST", "/api/upstreams", { url: "http://x:1", max_in_flight: 0 }, 422, /^max_in_flight: /],
    ["POST", "/api/upstreams", { url: "http://x:1", name: "a@b" }, 422, /^name: /, "name"],
    ["POST", "/api/upstreams", { url: "http://x:1", extra: 1 }, 422, /extra/],
    ["POST", "/api/upstreams", "{nope", 400, /JSON/],
    ["POST", "/api/upstreams", { url: "http://x:1", name: seeded.name }, 409, /exists/, "name"],
    ["PATCH", `/api/upstreams/${seeded.id}`, { token: 5 }, 422, /^token: /, "token"],
  ];
  for (const [method, path, body, status, message, field] of cases) {
    const res = await call(method, path, body);
    assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(body)}`);
    assert.match(res.body.error, message, `${method} ${path}`);
    if (field) assert.equal(res.body.field, field);
  }
  // Without the admin password: 401, for every call.
  for (const method of ["GET", "POST"]) {
    const res = await fetch(t.gateway.adminUrl + "/api/upstreams", {
      method,
      body: method === "POST" ? JSON.stringify({ url: "http://x:1" }) : undefined,
    });
    assert.equal(res.status, 401, method);
    await res.body?.cancel();
  }
  // Nothing of that was stored.
  assert.equal((await call("GET", "/api/upstreams")).body.length, 1);
});

gatewayTest(
  "PUT /api/settings ollama_url edits the lone box; with several it says to use the boxes page",
  async (t) => {
    const [before] = await (await t.admin("/api/upstreams")).json();
    const moved = await t.admin("/api/settings", {
      method: "PUT",
      body: JSON.stringify({ ollama_url: "http://127.0.0.1:9/" }),
    });
    assert.equal(moved.status, 200);
    assert.equal((await moved.json()).ollama_url, "http://127.0.0.1:9");
    const [after] = await (await t.admin("/api/upstreams")).json();
    assert.deepEqual([after.id, after.url], [before.id, "http://127.0.0.1:9"], "the same box");

    await (await t.admin("/api/upstreams", {
      method: "POST",
      body: JSON.stringify({ url: "http://127.0.0.1:10" }),
    })).body?.cancel();
    const refused = await t.admin("/api/settings", {
      method: "PUT",
      body: JSON.stringify({ ollama_url: "http://127.0.0.1:11", default_model: "qwen" }),
    });
    assert.equal(refused.status, 409);
    const body = await refused.json();
    assert.equal(body.field, "ollama_url");
    assert.match(body.error, /2 Ollama boxes .* Ollama boxes page/);
    const settings = await (await t.admin("/api/settings")).json();
    assert.equal(settings.ollama_url, "http://127.0.0.1:9,http://127.0.0.1:10");
    assert.equal(settings.default_model, "llama3", "a refused PUT changes nothing");
  },
);

gatewayTest(
  "with every box deleted or disabled requests get 502 saying so, uncharged",
  async (t) => {
    const { key, id } = await t.createKey();
    const [box] = await (await t.admin("/api/upstreams")).json();
    for (const change of ["disable", "delete"]) {
      const res = change === "disable"
        ? await t.admin(`/api/upstreams/${box.id}`, {
          method: "PATCH",
          body: JSON.stringify({ enabled: false }),
        })
        : await t.admin(`/api/upstreams/${box.id}`, { method: "DELETE" });
      assert.ok(res.ok, change);
      await res.body?.cancel();
      const chat = await t.post("/api/chat", key, { model: "llama3", messages, stream: false });
      assert.equal(chat.status, 502, change);
      assert.match((await chat.json()).error, /no Ollama box is configured \(or enabled\)/);
      const tags = await fetch(t.gateway.proxyUrl + "/api/tags", {
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(tags.status, 502, change);
      assert.match((await tags.json()).error, /no Ollama box is configured/);
    }
    assert.equal(t.mock.inferenceCount(), 0);
    assert.equal((await t.usage(id)).today.requests, 0, "nothing charged");
  },
);

gatewayTest(
  "PATCH with the URL as GET shows it (credentials as ***) keeps the stored credentials",
  async (t) => {
    const [box] = await (await t.admin("/api/upstreams")).json();
    const secretUrl = t.mock.url.replace("://", "://apiuser:api-pw-51be@");
    const set = await t.admin(`/api/upstreams/${box.id}`, {
      method: "PATCH",
      body: JSON.stringify({ url: secretUrl }),
    });
    assert.equal(set.status, 200);
    const shown = (await set.json()).url;
    assert.equal(shown, t.mock.url.replace("://", "://***@"));
    const echoed = await t.admin(`/api/upstreams/${box.id}`, {
      method: "PATCH",
      body: JSON.stringify({ url: shown, max_in_flight: 2 }),
    });
    assert.equal(echoed.status, 200);
    const text = await echoed.text();
    assert.doesNotMatch(text, /api-pw-51be/);
    assert.equal(JSON.parse(text).max_in_flight, 2);
    const [row] = await rawQuery(t.dialect, t.db.url, "SELECT url FROM upstreams");
    assert.equal(row.url, secretUrl, "the credentials stay");
  },
);
