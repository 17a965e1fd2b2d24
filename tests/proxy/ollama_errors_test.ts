import assert from "node:assert/strict";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";
import { refusedPort } from "../support/ports.ts";
import { pointGatewayAt } from "../support/scripted_upstream.ts";
import { OLLAMA_SINCE } from "../../proxy/ollama_versions.ts";

const messages = [{ role: "user", content: "Hi" }];

/** The error message of an answer, whatever the route's shape. */
async function messageOf(res: Response): Promise<string> {
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = await res.json();
  return typeof body.error === "string" ? body.error : body.error.message;
}

/** GET with a key. */
function get(t: TestGateway, path: string, key: string): Promise<Response> {
  return t.proxy(path, { headers: { authorization: `Bearer ${key}` } });
}

gatewayTest(
  "Ollama not running: every route says the connection was refused and who should act",
  async (t) => {
    const { key, id } = await t.createKey({ daily_request_limit: 5 });
    await pointGatewayAt(t, `http://127.0.0.1:${refusedPort()}`);
    for (const path of ["/api/chat", "/v1/chat/completions"]) {
      const res = await t.post(path, key, { model: "llama3", messages });
      assert.equal(res.status, 502, path);
      assert.match(
        await messageOf(res),
        /^Cannot reach Ollama: the connection was refused\. Nothing was charged; if this persists, the gateway's admin should check/,
        path,
      );
    }
    for (const path of ["/api/tags", "/v1/models", "/v1/models/llama3", "/api/version"]) {
      const res = await get(t, path, key);
      assert.equal(res.status, 502, path);
      assert.match(
        await messageOf(res),
        /^Cannot reach Ollama: the connection was refused\. If this persists, the gateway's admin should check that Ollama is running/,
        path,
      );
    }
    assert.equal((await t.usage(id)).today.requests, 0);
    // The admin's log line has the cause itself, not only "fetch failed".
    assert.ok(
      t.logs.some((l) => l.includes("upstream request failed") && /Connection refused/.test(l)),
    );
  },
);

/** An Ollama older than the routes: gin's plain-text 404 for every route but the version. */
function startOldOllama(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/api/version"
        ? Response.json({ version: "0.1.30" })
        : new Response("404 page not found", {
          status: 404,
          headers: { "content-type": "text/plain" },
        }),
  );
}

gatewayTest(
  "a route an older Ollama lacks answers in the route's JSON shape and names the version it needs",
  async (t) => {
    const old = startOldOllama();
    try {
      const { key } = await t.createKey();
      await pointGatewayAt(t, `http://127.0.0.1:${old.addr.port}`);
      const cases: Array<[Response, RegExp]> = [
        [
          await t.post("/v1/messages", key, { model: "llama3", max_tokens: 5, messages }),
          /^Ollama does not serve \/v1\/messages \(it answered 404: 404 page not found\); this route needs Ollama 0\.14\.0 or newer$/,
        ],
        [
          await t.post("/v1/responses", key, { model: "llama3", input: "Hi" }),
          /needs Ollama 0\.13\.3 or newer$/,
        ],
        [
          await get(t, "/v1/models/llama3", key),
          /^Ollama does not serve \/v1\/models\/llama3 .*; this route needs Ollama 0\.2\.0 or newer$/,
        ],
        [await get(t, "/api/ps", key), /needs Ollama 0\.1\.38 or newer$/],
      ];
      for (const [res, expected] of cases) {
        assert.equal(res.status, 404);
        assert.match(await messageOf(res), expected);
      }
      const anthropic = await t.post("/v1/messages", key, { model: "x", max_tokens: 5, messages });
      assert.equal((await anthropic.json()).type, "error", "Anthropic's error shape");
    } finally {
      await old.shutdown();
    }
  },
);

gatewayTest("Ollama's own JSON errors on read routes pass through unchanged", async (t) => {
  const { key } = await t.createKey();
  const res = await get(t, "/v1/models/no-such-model", key);
  assert.equal(res.status, 404);
  const direct = await fetch(t.mock.url + "/v1/models/no-such-model");
  assert.equal(await res.text(), await direct.text());
});

Deno.test("the README's table of Ollama releases names the same release for every route", () => {
  const readme = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
  const table = readme.slice(readme.indexOf("**Which Ollama each route needs.**"));
  for (const [route, since] of Object.entries(OLLAMA_SINCE)) {
    const shown = route.replace(":model", "{model}");
    const row = table.split("\n").find((l) => l.startsWith("| ") && l.includes(`\`${shown}\``));
    assert.ok(row, `no row for ${shown}`);
    assert.equal(row.split(" | ")[1], `v${since}`, row);
  }
});
