/**
 * Property-based fuzzing (fast-check) of both real listeners: random bodies, headers, paths and
 * credentials at every proxy route and every admin route (the JSON API with the admin bearer,
 * and the web UI with and without a session). Properties: never a 500 (only 502/503/504 for an
 * Ollama the fuzz itself pointed elsewhere), never an unexpected error logged, every request
 * answered; afterwards the gateway still serves normal requests and its ledger audits clean.
 *
 * Deterministic: a fixed seed (LLMQ_FUZZ_SEED to replay another; fast-check prints the seed and
 * the shrunk counterexample on failure) and a bounded run count (LLMQ_FUZZ_RUNS).
 * Requests go over raw TCP, so paths reach the gateway exactly as generated. The test may only
 * reach loopback addresses (and the test database), whatever the fuzz sets as Ollama's URL.
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { idSchema } from "../../admin/schemas.ts";
import { CAP_FIELDS } from "../../core/api_keys.ts";
import { LIMIT_KINDS } from "../../core/limits.ts";
import { INFERENCE_ROUTES, MANAGEMENT_PATHS, READ_ONLY_ROUTES } from "../../proxy/routes.ts";
import { testDialects, testPostgresUrl } from "../support/databases.ts";
import { ADMIN_PASSWORD, startTestGateway, type TestGateway } from "../support/gateway.ts";
import { type AdminSession, signIn } from "./admin_session.ts";
import { rawRequest, type RawResponse } from "./raw_http.ts";
import { messages, VALID_BODIES } from "./requests.ts";

const SEED = Number(Deno.env.get("LLMQ_FUZZ_SEED") ?? 20260615);
const RUNS = Number(Deno.env.get("LLMQ_FUZZ_RUNS") ?? 300);
const MAX_BODY_BYTES = 256 * 1024;
/** Longest a single request may take. */
const SLOW_MS = 5000;
/** Time limit of one listener's property, shrinking included. */
const TIME_LIMIT_MS = Number(Deno.env.get("LLMQ_FUZZ_TIME_LIMIT_MS") ?? 25_000);

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

type BodyKind = "inference" | "json" | "form" | "none";

/** One route of a listener; `:id`, `:model` and `:name` are filled in per request. */
interface Route {
  listener: "proxy" | "admin";
  method: string;
  path: string;
  body: BodyKind;
}

const PROXY_ROUTES: Route[] = [
  { listener: "proxy", method: "GET", path: "/", body: "none" },
  { listener: "proxy", method: "GET", path: "/healthz", body: "none" },
  { listener: "proxy", method: "GET", path: "/readyz", body: "none" },
  ...INFERENCE_ROUTES.map((r): Route => ({
    listener: "proxy",
    method: "POST",
    path: r.path,
    body: "inference",
  })),
  ...READ_ONLY_ROUTES.map((r): Route => ({
    listener: "proxy",
    method: r.method,
    path: r.path,
    body: r.method === "POST" ? "json" : "none",
  })),
  ...MANAGEMENT_PATHS.map((p): Route => ({
    listener: "proxy",
    method: "POST",
    path: p.replace("*", ":name"),
    body: "json",
  })),
];

const ADMIN_ROUTES: Route[] = (
  [
    ["GET", "/api/api-keys", "none"],
    ["POST", "/api/api-keys", "json"],
    ["PUT", "/api/api-keys/:id/deactivate", "none"],
    ["PUT", "/api/api-keys/:id/activate", "none"],
    ["PATCH", "/api/api-keys/:id/quota", "json"],
    ["PATCH", "/api/api-keys/:id", "json"],
    ["DELETE", "/api/api-keys/:id", "none"],
    ["GET", "/api/settings", "none"],
    ["PUT", "/api/settings", "json"],
    ["GET", "/api/ollama-models", "none"],
    ["GET", "/api/proxy-info", "none"],
    ["GET", "/metrics", "none"],
    ["GET", "/healthz", "none"],
    ["GET", "/readyz", "none"],
    ["GET", "/", "none"],
    ["GET", "/login", "none"],
    ["POST", "/login", "form"],
    ["POST", "/logout", "form"],
    ["GET", "/keys", "none"],
    ["POST", "/keys", "form"],
    ["GET", "/keys/:id/edit", "none"],
    ["GET", "/keys/:id/row", "none"],
    ["POST", "/keys/:id", "form"],
    ["POST", "/keys/:id/activate", "form"],
    ["POST", "/keys/:id/deactivate", "form"],
    ["GET", "/keys/:id/delete", "none"],
    ["POST", "/keys/:id/delete", "form"],
    ["GET", "/settings", "none"],
    ["POST", "/settings", "form"],
    ["POST", "/settings/test", "form"],
    ["GET", "/models", "none"],
    ["GET", "/proxy", "none"],
    ["GET", "/static/:name", "none"],
  ] as const
).map(([method, path, body]): Route => ({ listener: "admin", method, path, body }));

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/** Odd values for any field. */
const weird = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    1e308,
    -1e308,
    2 ** 53,
    -(2 ** 53),
    "",
    " ",
    "llama3",
    "all-minilm",
    "missing-model",
    "__proto__",
    "sk-not-a-key",
    "x".repeat(5000),
    "\u0000",
    "\ud800",
    "<script>alert(1)</script>",
    [],
    {},
  ),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 10 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** A value from `arb` four times in five, else an odd one. */
function mostly<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: weird });
}

/**
 * Ollama URLs the fuzz may set: only the mock, a closed loopback port and invalid ones, so that
 * no request leaves the machine (the test's net permission would refuse it anyway).
 */
function ollamaUrls(mockUrl: string) {
  return fc.constantFrom(
    mockUrl,
    `${mockUrl}/`,
    "http://127.0.0.1:1",
    "http://localhost:1/api",
    "not a url",
    "ftp://127.0.0.1",
    "javascript:alert(1)",
    "http://",
    "http://[::1",
    "",
  );
}

/** A body for an inference route: mostly valid with odd fields, sometimes anything. */
/**
 * Texts that once took the token estimator 10 s or more each, blocking every other request
 * meanwhile (it grew with the square of a word's length, and faster on non-ASCII).
 */
const COSTLY_TEXTS = [
  "中文".repeat(800),
  "a".repeat(5000),
  "é".repeat(2500),
  "😀".repeat(1200),
  "x".repeat(100) + " ".repeat(3000),
];

/** Prompt text: short random text, longer random Unicode, or a costly text. */
const text = fc.oneof(
  { weight: 8, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom(...COSTLY_TEXTS) },
);

function inferenceBody(path: string) {
  // `odd` decides how often a field holds an odd value instead of a sensible one.
  const fields = (odd: <T>(arb: fc.Arbitrary<T>) => fc.Arbitrary<unknown>) => {
    const message = fc.record(
      {
        role: odd(fc.constantFrom("user", "system", "assistant")),
        content: odd(text),
        images: odd(fc.constant([])),
      },
      { requiredKeys: ["role"] },
    );
    const tokens = fc.integer({ min: 1, max: 64 });
    return fc.record(
      {
        model: odd(fc.constantFrom("llama3", "all-minilm", "", "nope:latest")),
        stream: odd(fc.boolean()),
        messages: odd(fc.oneof(fc.constant(messages), fc.array(message, { maxLength: 3 }))),
        prompt: odd(text),
        system: odd(fc.string({ maxLength: 20 })),
        input: odd(fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.string(), { maxLength: 3 }))),
        instructions: odd(fc.string({ maxLength: 20 })),
        max_tokens: odd(tokens),
        max_completion_tokens: odd(tokens),
        max_output_tokens: odd(tokens),
        options: odd(
          fc.record({ num_predict: odd(fc.integer({ min: -2, max: 64 })), temperature: weird }, {
            requiredKeys: [],
          }),
        ),
        stream_options: odd(fc.record({ include_usage: odd(fc.boolean()) })),
        keep_alive: odd(fc.constantFrom("5m", 0, -1)),
      },
      { requiredKeys: [] },
    );
  };
  const valid = VALID_BODIES[path];
  const relevant = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).filter(([k]) => k in valid || k === "stream"));
  return fc.oneof(
    // Sensible values only, on the route's own fields: these reach Ollama and stream back.
    { weight: 3, arbitrary: fields((a) => a).map((o) => ({ ...valid, ...relevant(o) })) },
    { weight: 4, arbitrary: fields(mostly).map((o) => ({ ...valid, ...o })) },
    { weight: 1, arbitrary: fc.constant(valid) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );
}

/** A body for an admin JSON API route (and /api/show): known fields with odd values. */
function adminJsonBody(mockUrl: string) {
  const limit = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(null), weird);
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record(
        {
          name: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), weird),
          expires_at: fc.oneof(
            fc.constantFrom("2030-01-01", "2026-06-15T12:00:00Z", "2026-02-30", "never", null),
            weird,
          ),
          daily_request_limit: limit,
          monthly_request_limit: limit,
          daily_token_limit: limit,
          monthly_token_limit: limit,
          ollama_url: fc.oneof(ollamaUrls(mockUrl), weird.filter((v) => typeof v !== "string")),
          default_model: fc.oneof(fc.constantFrom("llama3", ""), weird),
          model: fc.oneof(fc.constantFrom("llama3"), weird),
          active: weird,
          key_hash: weird,
        },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );
}

/** Fields of the UI's forms, with odd values. */
function formFields(mockUrl: string, csrf: string | null) {
  const text = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom("", "0", "-1", "1e3", "12"));
  return fc.record(
    {
      // Never the right password: a successful login would end the fuzz's own session.
      password: fc.oneof(fc.string({ maxLength: 20 }), fc.constant(`${ADMIN_PASSWORD}!`)),
      next: fc.oneof(fc.constantFrom("/keys", "//evil.example", "https://evil.example"), text),
      name: text,
      expires_on: fc.oneof(fc.constantFrom("2030-01-31", "2026-02-30", ""), text),
      // Every policy field of the key forms: each limit kind, the model list, the caps.
      ...Object.fromEntries(
        [...LIMIT_KINDS.map((k) => k.field), ...CAP_FIELDS].map((name) => [name, text]),
      ),
      models: fc.oneof(
        fc.constantFrom("llama3, qwen3:*", "*", "qwen*", " , ,", "a;b", "x".repeat(700)),
        text,
      ),
      ollama_url: ollamaUrls(mockUrl),
      default_model: text,
      _csrf: csrf === null ? text : fc.oneof(fc.constant(csrf), text),
      extra: text,
    },
    { requiredKeys: [] },
  );
}

function multipart(fields: Record<string, string>): string {
  return Object.entries(fields).map(([k, v]) =>
    `--xyz\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`
  ).join("") + "--xyz--\r\n";
}

/** Bodies that have broken parsers before. */
const TRICKY_BODIES: Array<string | Uint8Array> = [
  "",
  "{",
  "null",
  "[]",
  "1e999",
  '{"__proto__":{"polluted":true},"model":"llama3"}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  "\ufeff" + JSON.stringify(VALID_BODIES["/api/chat"]),
  JSON.stringify(VALID_BODIES["/api/chat"]) + "\u0000",
  `{"model":"llama3","messages":[{"role":"user","content":${"[".repeat(20000)}${
    "]".repeat(20000)
  }}]}`,
  `{"model":"llama3","prompt":"hi","options":${'{"a":'.repeat(5000)}1${"}".repeat(5000)}}`,
  '{"model":"llama3","messages":[{"role":"user","content":"' + "é".repeat(50_000) + '"}]}',
  "x".repeat(MAX_BODY_BYTES + 1),
  new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]),
  new Uint8Array([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
];

/** The body bytes for a route. */
function bodyFor(route: Route, mockUrl: string, csrf: string | null) {
  const raw = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: "binary", maxLength: 60 }),
    fc.uint8Array({ maxLength: 64 }),
    fc.constantFrom(...TRICKY_BODIES),
  );
  const structured = route.body === "inference"
    ? inferenceBody(route.path).map((v) => JSON.stringify(v))
    : route.body === "json"
    ? adminJsonBody(mockUrl).map((v) => JSON.stringify(v))
    : route.body === "form"
    ? fc.tuple(formFields(mockUrl, csrf), fc.boolean()).map(([f, asMultipart]) =>
      asMultipart
        ? multipart(f as Record<string, string>)
        : new URLSearchParams(f as Record<string, string>).toString()
    )
    : fc.constant(undefined);
  return fc.oneof(
    { weight: 6, arbitrary: structured },
    { weight: 2, arbitrary: raw },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

/** Content types, right and wrong. */
const contentTypes = fc.constantFrom(
  undefined,
  "application/json",
  "application/json; charset=utf-8",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "multipart/form-data",
  "text/plain",
  "text/html",
  "application/x-ndjson",
  "image/png",
  "garbage",
  "",
);

/** Extra headers: names the gateway reads or forwards, and random ones. Framing is left alone. */
const headerList = fc.array(
  fc.tuple(
    fc.oneof(
      fc.constantFrom(
        "accept",
        "accept-encoding",
        "accept-language",
        "cookie",
        "content-encoding",
        "expect",
        "forwarded",
        "host",
        "hx-request",
        "hx-target",
        "hx-current-url",
        "if-none-match",
        "origin",
        "range",
        "referer",
        "sec-fetch-site",
        "user-agent",
        "x-csrf-token",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
        "x-request-id",
        "x-stainless-retry-count",
        "anthropic-version",
        "openai-organization",
      ),
      // Framing (Content-Length, Transfer-Encoding, Connection) is the raw client's.
      fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/).filter((n) =>
        !["content-length", "transfer-encoding", "connection"].includes(n)
      ),
    ),
    fc.oneof(
      fc.constantFrom(
        "",
        "*/*",
        "gzip",
        "br",
        "100-continue",
        "true",
        "same-origin",
        "cross-site",
        "none",
        "null",
        "http://evil.example",
        "http://localhost",
        "llmq_session=forged",
        "llmq_session=",
        "a=%zz; llmq_session=%",
        "bytes=0-1",
        "../../etc/passwd",
        "x".repeat(8000),
        "ÿé",
        "1.2.3.4, 5.6.7.8",
        "https",
        "evil.example:443",
        "[::1]:99999",
      ),
      // Header values may not hold CR, LF or NUL on the wire.
      fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n\0]/g, "")),
    ),
  ),
  { maxLength: 5 },
);

/** Pieces that have confused routers before. */
const TRICK_SEGMENTS = [
  "..",
  ".",
  "%2e%2e",
  "%2F",
  "%2f..%2f",
  "%00",
  "",
  "\\",
  "%",
  "%zz",
  "%c0%af",
  "%ff",
  "é",
  ";",
  "*",
  "~",
  "%252e%252e",
];

/** Turns a route path into a request target: as is, or tampered with. */
function targetFor(path: string, messy: boolean) {
  if (!messy) {
    // Existing things: the victim keys, an installed model, a static file.
    return fc.record({
      id: fc.constantFrom("2", "3", "4"),
      model: fc.constantFrom("llama3", "llama3:latest", "all-minilm"),
      name: fc.constantFrom("htmx.min.js", "admin.css", "admin.js", "icon.svg"),
    }).map((f) => path.replace(":id", f.id).replace(":model", f.model).replace(":name", f.name));
  }
  const fill = fc.record({
    id: fc.oneof(
      fc.constantFrom("1", "2", "3", "4", "0", "-1", "abc", "1e3", "99999999999999999999", "1.5"),
      fc.string({ maxLength: 6 }),
    ),
    model: fc.oneof(
      fc.constantFrom("llama3", "llama3:latest", ".", "..", "a%2Fb"),
      fc.webSegment(),
    ),
    name: fc.oneof(
      fc.constantFrom("htmx.min.js", "admin.css", "admin.js", "icon.svg", "..%2Fdeno.json"),
      fc.webSegment(),
    ),
  });
  const tamper = fc.oneof(
    { weight: 8, arbitrary: fc.constant((p: string) => p) },
    { weight: 2, arbitrary: fc.webQueryParameters().map((q) => (p: string) => `${p}?${q}`) },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.nat(), fc.constantFrom(...TRICK_SEGMENTS)).map(
        ([n, s]) => (p: string) => {
          const parts = p.split("/");
          parts.splice(1 + (n % parts.length), 0, s);
          return parts.join("/");
        },
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        (p: string) => p.toUpperCase(),
        (p: string) => `${p}/`,
        (p: string) => `/${p}`,
        (p: string) => p.replaceAll("/", "%2F"),
        (p: string) => p.replaceAll("/", "//"),
        (p: string) => p.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`),
        (p: string) => `${p}%00`,
        (p: string) => `${p}#fragment`,
        (p: string) => `/static/..${p}`,
        (p: string) => `/api/..${p}`,
        (p: string) => `http://evil.example${p}`,
      ),
    },
    { weight: 1, arbitrary: fc.webPath().map((w) => () => w || "/") },
    {
      weight: 1,
      arbitrary: fc.string({ unit: "binary", maxLength: 30 }).map((s) => () =>
        "/" + s.replace(/[\r\n ]/g, "")
      ),
    },
  );
  return fc.tuple(fill, tamper).map(([f, t]) => {
    const filled = path.replace(":id", f.id).replace(":model", f.model).replace(":name", f.name);
    return t(filled);
  });
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

/** What the fuzz knows about the running gateway. */
interface Context {
  t: TestGateway;
  /** The key the proxy fuzz uses; the admin fuzz must never touch it. */
  key: string;
  keyId: number;
  session: AdminSession;
}

/** Ids the admin fuzz may aim at: anything that does not name the proxy fuzz's key. */
function sparesKey(target: string, keyId: number): boolean {
  const id = /\/(?:api\/api-keys|keys)\/([^/?#]*)/.exec(target)?.[1];
  if (id === undefined) return true;
  let decoded = id;
  try {
    decoded = decodeURIComponent(id);
  } catch { /* left as sent */ }
  for (const candidate of [id, decoded]) {
    const parsed = idSchema.safeParse(candidate);
    if (parsed.success && parsed.data === keyId) return false;
  }
  return true;
}

/** The credentials that let a request to `route` in. */
function rightCredentials(route: Route, ctx: Context): Array<[string, string]> {
  if (route.listener === "proxy") return [["Authorization", `Bearer ${ctx.key}`]];
  if (route.path.startsWith("/api/") || route.path === "/metrics") {
    return [["Authorization", `Bearer ${ADMIN_PASSWORD}`]];
  }
  // Logging out with the session's own token would end the fuzz's session.
  if (route.path === "/logout") return [["Cookie", ctx.session.cookie]];
  return [["Cookie", ctx.session.cookie], ["x-csrf-token", ctx.session.csrf]];
}

/** Credentials for a messy request to `route`: right, partial, wrong or none. */
function credentialsFor(route: Route, ctx: Context): fc.Arbitrary<Array<[string, string]>> {
  const garbage = fc.constantFrom("Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "Bearer sk-", "sk-x")
    .map((g): Array<[string, string]> => [["Authorization", g]]);
  const right = rightCredentials(route, ctx);
  const others: Array<Array<[string, string]>> = route.listener === "proxy"
    ? [
      [["x-api-key", ctx.key]],
      [["Authorization", ctx.key]],
      [["Authorization", `Bearer ${ADMIN_PASSWORD}`]],
      [["Cookie", ctx.session.cookie]],
    ]
    : [
      [["Authorization", `Bearer ${ADMIN_PASSWORD}`]],
      [["Cookie", ctx.session.cookie]],
      [["Authorization", `Bearer ${ctx.key}`]],
      [["Cookie", "llmq_session=forged"], ["x-csrf-token", ctx.session.csrf]],
    ];
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(right) },
    { weight: 3, arbitrary: fc.constantFrom(...others) },
    { weight: 1, arbitrary: fc.constant<Array<[string, string]>>([]) },
    { weight: 1, arbitrary: garbage },
  );
}

/**
 * One random request to one of `routes`: half of them "clean" (the route's method, path and
 * credentials, a proper content type; only the body and extra headers vary), so that they get
 * past authentication into the handlers; the other half messy in every part.
 */
function requests(routes: Route[], ctx: Context) {
  return fc.tuple(fc.constantFrom(...routes), fc.boolean()).chain(([route, messy]) =>
    fc.record({
      route: fc.constant(route),
      method: messy
        ? fc.oneof(
          { weight: 4, arbitrary: fc.constant(route.method) },
          {
            weight: 1,
            arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"),
          },
        )
        : fc.constant(route.method),
      target: targetFor(route.path, messy).filter((t) => sparesKey(t, ctx.keyId)),
      credentials: messy ? credentialsFor(route, ctx) : fc.constant(rightCredentials(route, ctx)),
      contentType: messy ? contentTypes : fc.constant(
        route.body === "form" ? "application/x-www-form-urlencoded" : "application/json",
      ),
      headers: headerList,
      body: bodyFor(route, ctx.t.mock.url, ctx.session.csrf),
    })
  );
}

type FuzzRequest = ReturnType<typeof requests> extends fc.Arbitrary<infer R> ? R : never;

/** Statuses allowed at 5xx: Ollama unreachable (the fuzz may point it at a closed port). */
const UPSTREAM_5XX = new Set([502, 503, 504]);

async function send(ctx: Context, r: FuzzRequest): Promise<RawResponse> {
  const url = r.route.listener === "proxy" ? ctx.t.gateway.proxyUrl : ctx.t.gateway.adminUrl;
  const headers: Array<[string, string]> = [...r.credentials, ...r.headers];
  // A multipart body says so, with the boundary it was built with.
  const contentType = typeof r.body === "string" && r.body.startsWith("--xyz")
    ? "multipart/form-data; boundary=xyz"
    : r.contentType;
  if (contentType !== undefined) headers.push(["Content-Type", contentType]);
  return await rawRequest(url, {
    method: r.method,
    target: r.target,
    headers,
    body: r.body,
    timeoutMs: 10_000,
  });
}

function describe(r: FuzzRequest, res?: RawResponse): string {
  const body = r.body === undefined
    ? "no body"
    : typeof r.body === "string"
    ? JSON.stringify(r.body.slice(0, 300))
    : `bytes ${[...r.body.slice(0, 40)]}`;
  const answer = res ? `→ ${res.status} ${res.text.slice(0, 300)}` : "";
  return `${r.method} ${JSON.stringify(r.target)} (${r.route.method} ${r.route.path}) ` +
    `headers ${JSON.stringify([...r.credentials, ...r.headers]).slice(0, 300)} ` +
    `type ${r.contentType} ${body} ${answer}`;
}

/** Runs the property over `routes`; returns the routes that were hit. */
async function fuzz(ctx: Context, routes: Route[], name: string): Promise<Set<Route>> {
  const hit = new Set<Route>();
  try {
    await fc.assert(
      fc.asyncProperty(requests(routes, ctx), async (r) => {
        hit.add(r.route);
        const logStart = ctx.t.logs.length;
        const started = performance.now();
        const res = await send(ctx, r);
        // Mock Ollama answers in milliseconds: seconds mean the gateway was busy with the request.
        const took = performance.now() - started;
        if (took > SLOW_MS) throw new Error(`took ${Math.round(took)} ms: ${describe(r, res)}`);
        // The mock's own failure (it recurses on deeply nested JSON) is Ollama's answer, passed
        // through; real Ollama answers those with a 400.
        const fromOllama = res.status === 500 && res.text === "mock handler error";
        if (res.status >= 500 && !UPSTREAM_5XX.has(res.status) && !fromOllama) {
          throw new Error(`a ${res.status}: ${describe(r, res)}`);
        }
        // Only the gateway's proxy routes may give 502/503/504, and only for Ollama or readiness.
        if (res.status >= 500 && !fromOllama && r.route.listener === "admin") {
          assert.ok(
            ["/api/ollama-models", "/readyz", "/settings/test", "/models"].includes(r.route.path),
            `a ${res.status} on the admin: ${describe(r, res)}`,
          );
        }
        const unexpected = ctx.t.logs.slice(logStart).find((l) =>
          /unexpected error|admin error/.test(l)
        );
        if (unexpected) throw new Error(`logged: ${unexpected}\nafter ${describe(r, res)}`);
      }),
      {
        seed: SEED,
        numRuns: RUNS,
        verbose: 1,
        // Each listener's runs take a few seconds; far longer means a request hung the gateway
        // (or shrinking one that did): fail with what was found rather than run on.
        interruptAfterTimeLimit: TIME_LIMIT_MS,
        markInterruptAsFailure: true,
      },
    );
  } catch (err) {
    const cause = (err as Error).cause;
    throw new Error(
      `${name}: ${(err as Error).message}\n${cause instanceof Error ? cause.message : ""}\n` +
        `(replay: LLMQ_FUZZ_SEED=${SEED} LLMQ_FUZZ_RUNS=${RUNS}; LLMQ_FUZZ_TIME_LIMIT_MS to ` +
        `allow longer than ${TIME_LIMIT_MS} ms)`,
    );
  }
  return hit;
}

/** Normal use still works: Ollama back at the mock, a chat through the proxy, the admin UI. */
async function assertStillServes(ctx: Context) {
  const { t } = ctx;
  const reset = await t.admin("/api/settings", {
    method: "PUT",
    body: JSON.stringify({ ollama_url: t.mock.url, default_model: "llama3" }),
  });
  assert.equal(reset.status, 200, await reset.clone().text());
  await reset.body?.cancel();
  const chat = await t.post("/api/chat", ctx.key, VALID_BODIES["/api/chat"]);
  assert.equal(chat.status, 200, await chat.clone().text());
  assert.equal((await chat.json()).done, true);
  const openai = await t.post("/v1/chat/completions", ctx.key, {
    ...VALID_BODIES["/v1/chat/completions"],
    stream: true,
  });
  assert.equal(openai.status, 200);
  assert.match(await openai.text(), /data: \[DONE\]/);
  const keys = await t.admin("/api/api-keys");
  assert.equal(keys.status, 200);
  assert.ok((await keys.json()).some((k: { id: number }) => k.id === ctx.keyId));
  const page = await fetch(`${t.gateway.adminUrl}/keys`, {
    headers: { cookie: ctx.session.cookie },
  });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/);
}

/** Hosts the fuzz may reach: loopback, and the test database's host. */
function allowedHosts(): string[] {
  return ["127.0.0.1", "localhost", "[::1]", new URL(testPostgresUrl()).hostname];
}

for (const dialect of testDialects()) {
  Deno.test({
    name:
      `[${dialect}] random bodies, headers and paths at every route never get a 500, and the gateway keeps serving`,
    permissions: {
      net: allowedHosts(),
      read: "inherit",
      write: "inherit",
      env: "inherit",
      sys: "inherit",
      run: "inherit",
      ffi: "inherit",
      import: "inherit",
    },
    async fn() {
      const t = await startTestGateway(dialect, {
        env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES) },
      });
      try {
        const { key, id: keyId } = await t.createKey({
          name: "fuzz",
          daily_token_limit: 100_000_000,
          monthly_request_limit: 100_000,
        });
        // Keys for the admin fuzz to change, deactivate and delete.
        for (const name of ["victim-1", "victim-2", "victim-3"]) {
          await t.createKey({ name, daily_request_limit: 5 });
        }
        const ctx: Context = { t, key, keyId, session: await signIn(t.gateway.adminUrl) };

        const proxyHit = await fuzz(ctx, PROXY_ROUTES, "proxy");
        const adminHit = await fuzz(ctx, ADMIN_ROUTES, "admin");
        for (const [routes, hit] of [[PROXY_ROUTES, proxyHit], [ADMIN_ROUTES, adminHit]] as const) {
          const missed = routes.filter((r) => !hit.has(r)).map((r) => `${r.method} ${r.path}`);
          assert.deepEqual(missed, [], `routes the fuzz never tried (seed ${SEED})`);
        }
        await assertStillServes(ctx);
        await t.mock.idle();
      } finally {
        await t.close();
      }
    },
  });
}
