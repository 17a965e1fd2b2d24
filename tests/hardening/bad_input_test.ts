/**
 * Bad input on both listeners: bodies over MAX_BODY_BYTES, malformed or mistyped JSON, numbers
 * beyond what JSON keeps exact, unknown admin fields, oversized headers, invalid UTF-8 and path
 * tricks. Every one is a 4xx with a message, nothing of it reaches Ollama or the quota counters.
 * Path tricks and header abuse go over raw TCP: fetch would normalise or refuse them.
 * @module
 */
import assert from "node:assert/strict";
import { boundOf, estimateOf } from "../support/prompts.ts";
import { INFERENCE_ROUTES } from "../../proxy/routes.ts";
import { ADMIN_PASSWORD, gatewayTest, type TestGateway } from "../support/gateway.ts";
import { signIn } from "./admin_session.ts";
import { openRawRequest, rawRequest, type RawResponse } from "./raw_http.ts";
import { errorMessage, messages, VALID_BODIES } from "./requests.ts";

const LIMIT = 64 * 1024;
const SAFE = Number.MAX_SAFE_INTEGER;
const enc = new TextEncoder();

/** A normal chat request through the proxy still succeeds. */
async function stillServes(t: TestGateway, key: string) {
  const res = await t.post("/api/chat", key, VALID_BODIES["/api/chat"]);
  assert.equal(res.status, 200, await res.clone().text());
  await res.body?.cancel();
}

/** The two listeners and a body-taking route with credentials on each. */
function targets(t: TestGateway, key: string) {
  return [
    { name: "proxy", url: t.gateway.proxyUrl, path: "/api/chat", auth: `Bearer ${key}` },
    {
      name: "proxy (OpenAI)",
      url: t.gateway.proxyUrl,
      path: "/v1/chat/completions",
      auth: `Bearer ${key}`,
    },
    {
      name: "admin API",
      url: t.gateway.adminUrl,
      path: "/api/api-keys",
      auth: `Bearer ${ADMIN_PASSWORD}`,
    },
  ];
}

function assert413(res: RawResponse, where: string) {
  assert.equal(res.status, 413, `${where}: ${res.text}`);
  assert.match(errorMessage(JSON.parse(res.text)), /larger than 65536 bytes \(MAX_BODY_BYTES\)/);
}

gatewayTest(
  "a body declaring a Content-Length over MAX_BODY_BYTES gets 413 before any of it is read",
  async (t) => {
    const { key, id } = await t.createKey();
    for (const target of targets(t, key)) {
      // Only the head and a few bytes go out: an answer must not wait for the rest.
      const req = await openRawRequest(target.url, {
        method: "POST",
        target: target.path,
        headers: [
          ["Authorization", target.auth],
          ["Content-Type", "application/json"],
          ["Content-Length", String(LIMIT + 1)],
        ],
        timeoutMs: 5000,
      });
      await req.write(enc.encode('{"model":'));
      try {
        assert413(await req.response, target.name);
      } finally {
        req.close();
      }
    }
    assert.equal(t.mock.requests.length, 0);
    assert.equal((await t.usage(id)).today.requests, 0);
    assert.equal((await (await t.admin("/api/api-keys")).json()).length, 1);
    await stillServes(t, key);
  },
  { env: { MAX_BODY_BYTES: String(LIMIT) } },
);

gatewayTest(
  "a chunked body without Content-Length gets 413 once it grows past MAX_BODY_BYTES, while it is still being sent",
  async (t) => {
    const { key, id } = await t.createKey();
    const chunk = "x".repeat(4096);
    const framed = enc.encode(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    for (const target of targets(t, key)) {
      const req = await openRawRequest(target.url, {
        method: "POST",
        target: target.path,
        headers: [
          ["Authorization", target.auth],
          ["Content-Type", "application/json"],
          ["Transfer-Encoding", "chunked"],
        ],
        timeoutMs: 10_000,
      });
      let answered = false;
      req.response.then(() => answered = true, () => answered = true);
      let sent = 0;
      // The body would go on to 16 × the limit; the answer has to come long before.
      while (!answered && sent < 16 * LIMIT) {
        if (!await req.write(framed)) break;
        sent += chunk.length;
        await new Promise((r) => setTimeout(r, 1));
      }
      try {
        assert413(await req.response, target.name);
        assert.ok(sent < 4 * LIMIT, `${target.name}: the 413 came only after ${sent} bytes`);
      } finally {
        req.close();
      }
    }
    assert.equal(t.mock.requests.length, 0);
    assert.equal((await t.usage(id)).today.requests, 0);
    await stillServes(t, key);
  },
  { env: { MAX_BODY_BYTES: String(LIMIT) } },
);

gatewayTest(
  "a 413 for a declared Content-Length over MAX_BODY_BYTES says Connection: close and the connection serves no further request",
  async (t) => {
    const { key } = await t.createKey();
    const declared = 4 * LIMIT;
    const head = '{"model":';
    for (const target of targets(t, key)) {
      const host = new URL(target.url).host;
      // A client that wants to keep the connection, and sends only a few bytes of the body.
      const req = await openRawRequest(target.url, {
        method: "POST",
        target: target.path,
        headers: [
          ["Authorization", target.auth],
          ["Content-Type", "application/json"],
          ["Content-Length", String(declared)],
          ["Connection", "keep-alive"],
        ],
        timeoutMs: 5000,
      });
      try {
        await req.write(enc.encode(head));
        const res = await req.response;
        assert413(res, target.name);
        assert.match(res.headers.get("connection") ?? "", /\bclose\b/i, target.name);
        // It goes on as if it had not read the answer: the rest of the body, then a second
        // request. The server reads the body to its declared end and then closes, unanswered.
        await req.write(new Uint8Array(declared - head.length).fill(0x20));
        await req.write(enc.encode(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
        const after = await req.untilClosed(10_000);
        assert.equal(
          after.length,
          0,
          `${target.name}: the connection was reused: ${new TextDecoder().decode(after)}`,
        );
      } finally {
        req.close();
      }
    }
    await stillServes(t, key);
  },
  { env: { MAX_BODY_BYTES: String(LIMIT) } },
);

gatewayTest(
  "a body just under MAX_BODY_BYTES is accepted on both listeners",
  async (t) => {
    const { key, id } = await t.createKey();
    const base = JSON.stringify({ ...VALID_BODIES["/api/chat"], messages: [] });
    const padding = "a".repeat(LIMIT - base.length - 64);
    const body = JSON.stringify({
      ...VALID_BODIES["/api/chat"],
      messages: [{ role: "user", content: padding }],
    });
    assert.ok(body.length <= LIMIT && body.length > LIMIT - 100);
    const res = await t.post("/api/chat", key, body);
    assert.equal(res.status, 200, await res.clone().text());
    await res.body?.cancel();
    assert.equal((await t.usage(id)).today.requests, 1);

    const json = '{"name":"padded"' + " ".repeat(LIMIT - 20) + "}";
    assert.ok(json.length <= LIMIT);
    const created = await t.admin("/api/api-keys", { method: "POST", body: json });
    assert.equal(created.status, 201, await created.clone().text());
    await created.body?.cancel();
  },
  { env: { MAX_BODY_BYTES: String(LIMIT) } },
);

gatewayTest("malformed JSON on every inference route gets 400 with a message", async (t) => {
  const { key, id } = await t.createKey();
  const cases: Array<[string, RegExp]> = [
    ["{", /^Cannot parse request body: /],
    ['{"model": "llama3",', /^Cannot parse request body: /],
    ["nope", /^Cannot parse request body: /],
    ['{"model":"llama3"}}', /^Cannot parse request body: /],
    ["{'model': 'llama3'}", /^Cannot parse request body: /],
    ["", /^missing request body$/],
    ["   \n", /^missing request body$/],
    ["[]", /^Invalid request body: body: /],
    ["null", /^Invalid request body: body: /],
    ['"hello"', /^Invalid request body: body: /],
    ["42", /^Invalid request body: body: /],
  ];
  for (const route of INFERENCE_ROUTES) {
    for (const [body, message] of cases) {
      const res = await t.post(route.path, key, body);
      const where = `${route.path} ${JSON.stringify(body)}`;
      assert.equal(res.status, 400, where);
      assert.match(errorMessage(await res.json()), message, where);
    }
  }
  assert.equal(t.mock.requests.length, 0);
  assert.equal((await t.usage(id)).today.requests, 0);
  await stillServes(t, key);
});

gatewayTest("wrongly typed fields get 400 naming the field", async (t) => {
  const { key, id } = await t.createKey();
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["/api/chat", { messages: "hi" }, /^Invalid request body: messages: /],
    ["/api/chat", { messages: [{ content: "no role" }] }, /: messages\.0\.role: /],
    ["/api/chat", { messages, stream: "yes" }, /: stream: /],
    ["/api/chat", { messages, model: 5 }, /: model: /],
    ["/api/chat", { messages, options: "fast" }, /: options: /],
    ["/api/chat", { messages, options: { num_predict: "10" } }, /: options\.num_predict: /],
    ["/api/generate", { prompt: ["a", "b"] }, /: prompt: /],
    ["/api/embed", { input: 5 }, /: input: /],
    ["/api/embeddings", { prompt: { text: "x" } }, /: prompt: /],
    ["/v1/chat/completions", { model: "llama3" }, /: messages: /],
    [
      "/v1/chat/completions",
      { messages, stream_options: { include_usage: "yes" } },
      /: stream_options\.include_usage: /,
    ],
    ["/v1/chat/completions", { messages, max_tokens: "100" }, /: max_tokens: must be a whole/],
    ["/v1/completions", { prompt: null }, /: prompt: /],
    ["/v1/embeddings", { input: { text: "x" } }, /: input: /],
    ["/v1/messages", { messages }, /: max_tokens: is required$/],
    ["/v1/responses", { input: 5 }, /: input: /],
    ["/v1/responses", { input: "Hi", instructions: ["x"] }, /: instructions: /],
  ];
  for (const [path, body, message] of cases) {
    const res = await t.post(path, key, body);
    const where = `${path} ${JSON.stringify(body)}`;
    assert.equal(res.status, 400, where);
    assert.match(errorMessage(await res.json()), message, where);
  }
  assert.equal(t.mock.requests.length, 0);
  assert.equal((await t.usage(id)).today.requests, 0);
});

gatewayTest(
  "token limits beyond Number.MAX_SAFE_INTEGER, fractional or negative get 400 naming the safe range",
  async (t) => {
    const { key, id } = await t.createKey();
    const cases: Array<[string, string, string]> = [
      ["/v1/chat/completions", JSON.stringify({ messages, max_tokens: 1e308 }), "max_tokens"],
      [
        "/v1/chat/completions",
        JSON.stringify({ messages, max_completion_tokens: 2 ** 53 }),
        "max_completion_tokens",
      ],
      // 1e999 parses to Infinity.
      ["/v1/chat/completions", `{"messages":[],"max_tokens":1e999}`, "max_tokens"],
      ["/v1/chat/completions", JSON.stringify({ messages, max_tokens: -1 }), "max_tokens"],
      ["/v1/chat/completions", JSON.stringify({ messages, max_tokens: 2.5 }), "max_tokens"],
      ["/v1/completions", JSON.stringify({ prompt: "Hi", max_tokens: 1e20 }), "max_tokens"],
      [
        "/api/chat",
        JSON.stringify({ messages, options: { num_predict: 1e20 } }),
        "options.num_predict",
      ],
      [
        "/api/generate",
        JSON.stringify({ prompt: "Hi", options: { num_predict: -1e20 } }),
        "options.num_predict",
      ],
      ["/v1/messages", JSON.stringify({ messages, max_tokens: 1e308 }), "max_tokens"],
      ["/v1/messages", JSON.stringify({ messages, max_tokens: 0 }), "max_tokens"],
      [
        "/v1/responses",
        JSON.stringify({ input: "Hi", max_output_tokens: 1e308 }),
        "max_output_tokens",
      ],
    ];
    for (const [path, body, field] of cases) {
      const res = await t.post(path, key, body);
      assert.equal(res.status, 400, `${path} ${body}`);
      assert.match(
        errorMessage(await res.json()),
        new RegExp(
          `^Invalid request body: ${field}: must be a whole number from -?\\d+ to ${SAFE}$`,
        ),
        `${path} ${body}`,
      );
    }
    assert.equal(t.mock.requests.length, 0);
    assert.equal((await t.usage(id)).today.requests, 0);

    // The edges stay allowed: the largest exact integer, and Ollama's num_predict -1 (no limit).
    for (
      const [path, body] of [
        ["/v1/chat/completions", { ...VALID_BODIES["/v1/chat/completions"], max_tokens: SAFE }],
        ["/api/chat", { ...VALID_BODIES["/api/chat"], options: { num_predict: -1 } }],
      ] as const
    ) {
      const res = await t.post(path, key, body);
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
    }
    assert.equal((await t.usage(id)).today.requests, 2);
  },
);

gatewayTest("a body that is not UTF-8 gets 400 on both listeners", async (t) => {
  const { key, id } = await t.createKey();
  const bytes = new Uint8Array([
    ...enc.encode('{"model":"llama3","stream":false,"messages":[{"role":"user","content":"'),
    0xff,
    0xfe,
    ...enc.encode('"}]}'),
  ]);
  const proxied = await fetch(`${t.gateway.proxyUrl}/api/chat`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: bytes,
  });
  assert.equal(proxied.status, 400);
  assert.match(errorMessage(await proxied.json()), /not valid UTF-8/);
  assert.equal(t.mock.requests.length, 0);
  assert.equal((await t.usage(id)).today.requests, 0);

  const name = new Uint8Array([...enc.encode('{"name":"k'), 0xc3, 0x28, ...enc.encode('"}')]);
  const admin = await t.admin("/api/api-keys", { method: "POST", body: name });
  assert.equal(admin.status, 400);
  assert.match((await admin.json()).error, /UTF-8/);
  assert.equal((await (await t.admin("/api/api-keys")).json()).length, 1, "no key was created");
});

gatewayTest("admin API bodies: malformed JSON is 400, wrong or unknown fields 422", async (t) => {
  const { id } = await t.createKey({ name: "victim" });
  const cases: Array<[string, string, string, number, RegExp]> = [
    ["POST", "/api/api-keys", "{", 400, /^Cannot parse request body/],
    ["POST", "/api/api-keys", "", 400, /^Cannot parse request body/],
    ["POST", "/api/api-keys", "[]", 422, /^body: /],
    ["POST", "/api/api-keys", "null", 422, /^body: /],
    ["POST", "/api/api-keys", '{"name":5}', 422, /^name: must be a text/],
    ["POST", "/api/api-keys", '{"name":"  "}', 422, /^name: must not be empty/],
    ["POST", "/api/api-keys", JSON.stringify({ name: "x".repeat(201) }), 422, /^name: /],
    [
      "POST",
      "/api/api-keys",
      '{"name":"k","daily_request_limit":-1}',
      422,
      /^daily_request_limit: must be a whole number ≥ 0 or null/,
    ],
    [
      "POST",
      "/api/api-keys",
      '{"name":"k","monthly_token_limit":1e308}',
      422,
      /^monthly_token_limit: /,
    ],
    ["POST", "/api/api-keys", '{"name":"k","daily_token_limit":1.5}', 422, /^daily_token_limit: /],
    ["POST", "/api/api-keys", '{"name":"k","daily_token_limit":"10"}', 422, /^daily_token_limit: /],
    ["POST", "/api/api-keys", '{"name":"k","admin":true}', 422, /^admin: unknown field$/],
    [
      "POST",
      "/api/api-keys",
      '{"name":"k","__proto__":{"x":1}}',
      422,
      /^__proto__: unknown field$/,
    ],
    ["POST", "/api/api-keys", '{"name":"k","expires_at":"soon"}', 422, /^expires_at: /],
    [
      "PATCH",
      `/api/api-keys/${id}/quota`,
      '{"daily_request_limit":-5}',
      422,
      /^daily_request_limit: /,
    ],
    [
      "PATCH",
      `/api/api-keys/${id}/quota`,
      `{"monthly_request_limit":${2 ** 53}}`,
      422,
      /^monthly_request_limit: /,
    ],
    ["PATCH", `/api/api-keys/${id}/quota`, '{"active":false}', 422, /^active: unknown field$/],
    ["PATCH", `/api/api-keys/${id}/quota`, "{oops}", 400, /^Cannot parse request body/],
    [
      "PATCH",
      `/api/api-keys/${id}`,
      '{"name":"x","key_hash":"00"}',
      422,
      /^key_hash: unknown field$/,
    ],
    ["PATCH", `/api/api-keys/${id}`, '{"expires_at":"tomorrow"}', 422, /^expires_at: /],
    ["PUT", "/api/settings", '{"ollama_url":"ftp://example.invalid"}', 422, /^ollama_url: /],
    ["PUT", "/api/settings", '{"ollama_url":5}', 422, /^ollama_url: /],
    ["PUT", "/api/settings", '{"default_model":""}', 422, /^default_model: /],
    ["PUT", "/api/settings", '{"admin_password":"x"}', 422, /^admin_password: unknown field$/],
  ];
  for (const [method, path, body, status, message] of cases) {
    const res = await t.admin(path, { method, body });
    const where = `${method} ${path} ${body}`;
    assert.equal(res.status, status, where);
    assert.match((await res.json()).error, message, where);
  }
  // Nothing of it was applied.
  const keys = await (await t.admin("/api/api-keys")).json();
  assert.equal(keys.length, 1);
  assert.equal(keys[0].name, "victim");
  assert.equal(keys[0].daily_request_limit, null);
  assert.equal(keys[0].monthly_request_limit, null);
  assert.equal(keys[0].expires_at, null);
  const settings = await (await t.admin("/api/settings")).json();
  assert.equal(settings.ollama_url, t.mock.url);
  assert.equal(settings.default_model, "llama3");
});

gatewayTest("oversized or malformed headers get 4xx and the listeners keep serving", async (t) => {
  const { key } = await t.createKey();
  const huge = "x".repeat(1024 * 1024);
  const cases: Array<[string, Array<[string, string]>, string]> = [
    ["a 1 MiB header", [["X-Big", huge]], "/api/tags"],
    ["a 1 MiB cookie", [["Cookie", `a=${huge}`]], "/api/tags"],
    [
      "1000 headers",
      Array.from({ length: 1000 }, (_, i) => [`X-H${i}`, "v"] as [string, string]),
      "/api/tags",
    ],
    ["a 1 MiB request target", [], `/api/tags?q=${huge}`],
    ["a control character in a header value", [["X-Bad", "a\x01b"]], "/api/tags"],
    ["a header name with a space", [["X Bad", "v"]], "/api/tags"],
  ];
  for (const [url, auth] of [[t.gateway.proxyUrl, key], [t.gateway.adminUrl, ADMIN_PASSWORD]]) {
    for (const [what, headers, target] of cases) {
      const res = await rawRequest(url, {
        method: "GET",
        target,
        headers: [["Authorization", `Bearer ${auth}`], ...headers],
      });
      assert.ok(res.status >= 400 && res.status < 500, `${url} ${what}: ${res.status}`);
    }
  }
  assert.equal(t.mock.requests.length, 0);
  await stillServes(t, key);
  const admin = await t.admin("/api/api-keys");
  assert.equal(admin.status, 200);
  await admin.body?.cancel();
});

/** Path tricks at the proxy: none may reach Ollama, a management route or anything admin. */
const PROXY_TRICKS = [
  "/api/../admin",
  "/api/%2e%2e/admin",
  "/api/%2E%2E/api/api-keys",
  "/api/../api/api-keys",
  "/../api/api-keys",
  "/api%2Fchat",
  "/api%2ftags",
  "/v1%2Fchat%2Fcompletions",
  "//api/chat",
  "//api/tags",
  "/./api/tags",
  "/api/./tags",
  "/api/chat/",
  "/api/tags/.",
  "/API/TAGS",
  "/api/chat%00",
  "/api/tags%00",
  "/api/%00/tags",
  "/api/\0chat",
  "/api/tags\0",
  "\\api\\tags",
  "/api\\chat",
  "/v1/models/%2e%2e",
  "/v1/models/.",
  "/v1/models/..%2F..%2Fapi%2Fpull",
  "/v1/models/%2e%2e%2f%2e%2e%2fapi%2ftags",
  "/v1/models/..%5C..%5Capi%5Cpull",
  "/api/blobs/..%2F..%2Fapi%2Ftags",
  "/%61pi/pull",
  "/api/pull%2F",
];

gatewayTest("path tricks at the proxy get 4xx, reach neither Ollama nor the admin", async (t) => {
  const { key, id } = await t.createKey();
  for (const target of PROXY_TRICKS) {
    for (const method of ["GET", "POST"]) {
      const res = await rawRequest(t.gateway.proxyUrl, {
        method,
        target,
        headers: [["Authorization", `Bearer ${key}`], ["Content-Type", "application/json"]],
        body: method === "POST" ? JSON.stringify(VALID_BODIES["/api/chat"]) : undefined,
      });
      const where = `${method} ${JSON.stringify(target)}: ${res.status} ${res.text}`;
      assert.ok(res.status >= 400 && res.status < 500, where);
      assert.doesNotMatch(res.text, /<html|api-keys"|ollama_url|sk-/i, where);
      assert.equal(res.headers.get("set-cookie"), null, where);
    }
  }
  assert.deepEqual(t.mock.requests.map((r) => r.path), [], "nothing reached Ollama");
  assert.equal((await t.usage(id)).today.requests, 0);
  await stillServes(t, key);
});

/** Path tricks at the admin: toward the proxy's routes, past the login, out of /static. */
const ADMIN_TRICKS = [
  "/api/chat",
  "/api/../api/chat",
  "//api/chat",
  "/api%2Fchat",
  "/api/%2e%2e/v1/chat/completions",
  "/v1/chat/completions",
  "/v1/../api/chat",
  "/api/tags",
  "/api/tags%00",
  "/api/\0tags",
  "/v1/models/..%2F..%2Fapi%2Ftags",
  "/api/../keys",
  "/api/%2e%2e/settings",
  "//keys",
  "/keys%00",
  "/keys/..%2F..%2Fsettings",
  "/login/../keys",
  "/healthz/../api/api-keys",
  "/static/..%2F..%2Fmain.ts",
  "/static/%2e%2e%2fdeno.json",
  "/static/../keys",
  "/static/..\\..\\deno.json",
];

gatewayTest(
  "path tricks at the admin get 4xx (or the login page without a session), never proxy, never admin content without credentials",
  async (t) => {
    await t.createKey({ name: "victim-key-name" });
    const session = await signIn(t.gateway.adminUrl);
    const credentials: Array<[string, Array<[string, string]>]> = [
      ["none", []],
      ["the admin bearer", [["Authorization", `Bearer ${ADMIN_PASSWORD}`]]],
      ["a session", [["Cookie", session.cookie]]],
    ];
    for (const target of ADMIN_TRICKS) {
      for (const [who, headers] of credentials) {
        for (const method of ["GET", "POST"]) {
          const res = await rawRequest(t.gateway.adminUrl, {
            method,
            target,
            headers: [...headers, ["Content-Type", "application/json"]],
            body: method === "POST" ? JSON.stringify(VALID_BODIES["/api/chat"]) : undefined,
          });
          const where = `${method} ${JSON.stringify(target)} with ${who}: ${res.status}`;
          if (res.status === 303 && who !== "a session") {
            // The UI's answer to anyone without a session: the login page, nothing else.
            assert.match(res.headers.get("location") ?? "", /^\/login\?next=/, where);
            assert.equal(res.text, "", where);
          } else {
            assert.ok(res.status >= 400 && res.status < 500, `${where} ${res.text}`);
          }
          if (who === "none") assert.doesNotMatch(res.text, /victim-key-name/, where);
        }
      }
    }
    assert.deepEqual(t.mock.requests.map((r) => r.path), [], "nothing reached Ollama");
  },
);

gatewayTest(
  "an unusable Host header gets 400 on both listeners, a usual one is served",
  async (t) => {
    const { key } = await t.createKey();
    const listeners: Array<[string, string, string]> = [
      [t.gateway.proxyUrl, "/api/tags", `Bearer ${key}`],
      [t.gateway.adminUrl, "/api/api-keys", `Bearer ${ADMIN_PASSWORD}`],
      // The UI builds URLs from the request: the host once made it fail with a 500.
      [t.gateway.adminUrl, "/", ""],
    ];
    for (const [url, target, auth] of listeners) {
      // `x/y` would move the path (`/y/api/tags`); the others do not make a URL at all.
      for (const host of ["/", "x/y", "a b", "@", "a@b", "%", "?", "evil.example:99999", "[::1"]) {
        const res = await rawRequest(url, {
          method: "GET",
          target,
          headers: [["Host", host], ["Authorization", auth]],
        });
        const where = `${url}${target} with Host ${JSON.stringify(host)}: ${
          res.text.slice(0, 200)
        }`;
        assert.equal(res.status, 400, where);
        assert.match(res.text, /Invalid Host header/, where);
      }
      for (
        const host of ["localhost:8000", "127.0.0.1", "[::1]:8001", "llm-quota.example", "gw_1"]
      ) {
        const res = await rawRequest(url, {
          method: "GET",
          target,
          headers: [["Host", host], ["Authorization", auth]],
        });
        assert.ok(
          [200, 303].includes(res.status),
          `${url}${target} with Host ${host}: ${res.status}`,
        );
      }
    }
    const errors = t.logs.filter((l) => / ERROR /.test(l));
    assert.deepEqual(errors, [], "no unexpected error was logged");
  },
  // The admin answers only to its own names (tests/hardening/admin_host_test.ts).
  { env: { ADMIN_ALLOWED_HOSTS: "llm-quota.example,gw_1" } },
);

gatewayTest(
  "prompts that are costly to tokenise are estimated in bounded time, and the gateway keeps serving",
  async (t) => {
    const prompts = [
      "中文".repeat(1500), // 3,000 CJK characters in one pre-token: minutes with plain BPE
      "a".repeat(20_000), // one 20,000-letter word
      "é".repeat(100_000),
      "😀".repeat(50_000),
      `Hi${" ".repeat(20_000)}there`, // one run of spaces: 8,000 of them took 50 s
      "\n".repeat(20_000),
      "The quick brown fox jumps over the lazy dog. ".repeat(20_000), // 900 kB of prose
    ];
    for (const content of prompts) {
      const body = { ...VALID_BODIES["/api/chat"], messages: [{ role: "user", content }] };
      // A budget between the prompt's estimate and its bound: the bound does not fit, so the
      // tokenizer runs (outside the admission's lock) and its estimate is admitted.
      const estimate = estimateOf(body), bound = boundOf(body);
      assert.ok(estimate < bound, `${content.slice(0, 10)}…: ${estimate} < ${bound}`);
      const { key } = await t.createKey({ daily_token_limit: Math.ceil((estimate + bound) / 2) });
      const started = performance.now();
      // While the big request runs, the listener still answers at once. Measured from when the
      // heartbeat was due, so that a synchronous block of the event loop counts too.
      const heartbeat = (async () => {
        const due = performance.now() + 5;
        await new Promise((r) => setTimeout(r, 5));
        const res = await t.proxy("/");
        await res.body?.cancel();
        return performance.now() - due;
      })();
      const res = await t.post("/api/chat", key, body);
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
      const took = performance.now() - started;
      assert.ok(took < 3000, `${content.slice(0, 10)}… took ${Math.round(took)} ms`);
      assert.ok(await heartbeat < 2000, "the event loop was blocked");
    }
  },
);

gatewayTest("a body nested thousands of levels deep is estimated, not a 500", async (t) => {
  // Ollama is pointed at a closed port: what matters is that the gateway gets as far as
  // forwarding (502), past estimating the prompt, which a token limit makes it do first.
  const settings = await t.admin("/api/settings", {
    method: "PUT",
    body: JSON.stringify({ ollama_url: "http://127.0.0.1:1" }),
  });
  assert.equal(settings.status, 200);
  await settings.body?.cancel();
  const { key } = await t.createKey({ daily_token_limit: 100_000_000 });
  for (const depth of [1_000, 100_000]) {
    const deep = `${"[".repeat(depth)}"x"${"]".repeat(depth)}`;
    const bodies: Array<[string, string]> = [
      [
        "/api/chat",
        `{"model":"llama3","stream":false,"messages":[{"role":"user","content":${deep}}]}`,
      ],
      ["/v1/chat/completions", `{"model":"llama3","messages":[{"role":"user","content":${deep}}]}`],
      [
        "/api/generate",
        `{"model":"llama3","stream":false,"prompt":"hi","options":{"stop":${deep}}}`,
      ],
      ["/v1/responses", `{"model":"llama3","input":[{"role":"user","content":${deep}}]}`],
    ];
    for (const [path, body] of bodies) {
      const res = await t.post(path, key, body);
      const text = await res.text();
      assert.equal(res.status, 502, `${path} at depth ${depth}: ${text.slice(0, 200)}`);
    }
  }
  assert.deepEqual(t.logs.filter((l) => /unexpected error/.test(l)), []);
});
