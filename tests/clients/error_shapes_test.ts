import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { parseConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { startGateway } from "../../main.ts";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { ADMIN_PASSWORD, gatewayTest, type TestGateway } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { anthropicFor, caught, ollamaFor, openaiFor, serveGatewayError } from "./clients.ts";

// The error-shape audit: every error the gateway makes itself (401, 403, 404, 413, 422, 429,
// 502, 503, 504, and 400), on each route family, parsed by that family's real client.
// 403 exists on /v1/* and 422 anywhere only as shapes (no proxy route makes them today): those
// cases use the gateway's own error path (errorResponse) on a bare server.

const env = { MAX_BODY_BYTES: "4096", UPSTREAM_CONNECT_TIMEOUT: "1" };
const big = "x".repeat(8192);
const messages = [{ role: "user" as const, content: "Say hi" }];
const anthropicRequest = { model: "llama3", max_tokens: 50, messages };

/** A status and the gateway message the client must surface. */
type Expected = [status: number, message: RegExp];

/** The gateway's situations that produce each error; `run` provokes one with a client call. */
async function situations(t: TestGateway) {
  const { key } = await t.createKey();
  const { key: spent } = await t.createKey({ daily_request_limit: 0 });
  return {
    key,
    spent,
    /** Ollama takes longer than UPSTREAM_CONNECT_TIMEOUT to answer, for one call. */
    async slowOllama<T>(call: () => Promise<T>): Promise<T> {
      t.mock.set({ firstByteDelayMs: 1500 });
      try {
        return await call();
      } finally {
        t.mock.reset();
      }
    },
    /** Ollama is unreachable from now on. */
    async stopOllama() {
      const res = await t.admin("/api/settings", {
        method: "PUT",
        body: JSON.stringify({ ollama_url: "http://127.0.0.1:9" }),
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    },
  };
}

/** Runs a bare server with the gateway's own error for `status`, for one client call. */
async function shapeOnly<T>(status: number, call: (url: string) => Promise<T>): Promise<T> {
  const server = serveGatewayError(status, `a gateway-made ${status}`, "shape_check");
  try {
    return await call(server.url);
  } finally {
    await server.close();
  }
}
const shapeMessage = (status: number): RegExp => new RegExp(`^a gateway-made ${status}$`);

// ----- ollama-js on /api/*: ResponseError{error, status_code}, read only from a JSON body -----

function assertOllamaError(err: unknown, [status, message]: Expected): void {
  assert.ok(err instanceof Error && err.name === "ResponseError", `${status}: ${err}`);
  const e = err as Error & { error: string; status_code: number };
  assert.equal(e.status_code, status);
  // ollama-js reads `error` only when the content type is JSON; else it would show raw text.
  assert.match(e.error, message);
}

gatewayTest("error shapes: ollama-js parses every gateway error on /api/*", async (t) => {
  const s = await situations(t);
  const client = ollamaFor(t, "gateway", s.key);
  const chat = (c: Ollama, content = "Say hi") =>
    c.chat({ model: "llama3", messages: [{ role: "user", content }] });
  const cases: Array<[Expected, () => Promise<unknown>]> = [
    [
      [400, /^Invalid request body: prompt/],
      () => client.generate({ model: "llama3", prompt: 42 as unknown as string }),
    ],
    [[401, /^Invalid API key$/], () => chat(ollamaFor(t, "gateway", "sk-not-a-key"))],
    [[403, /^Model management is not allowed/], () => client.pull({ model: "llama3" })],
    [
      [404, /^Route GET \/elsewhere\/api\/tags not found$/],
      () => ollamaFor(t, "gateway", s.key, t.gateway.proxyUrl + "/elsewhere").list(),
    ],
    [[413, /MAX_BODY_BYTES/], () => chat(client, big)],
    [
      [422, shapeMessage(422)],
      () => shapeOnly(422, (url) => chat(ollamaFor(t, "gateway", s.key, url))),
    ],
    [
      [429, /^Daily request limit reached \(0 requests per day\)/],
      () => chat(ollamaFor(t, "gateway", s.spent)),
    ],
    [[504, /UPSTREAM_CONNECT_TIMEOUT/], () => s.slowOllama(() => chat(client))],
    [[502, /^Cannot reach Ollama/], async () => {
      await s.stopOllama();
      return chat(client);
    }],
  ];
  for (const [expected, call] of cases) assertOllamaError(await caught(call), expected);
}, { env });

// ----- the OpenAI SDK on /v1/*: one error class per status, `error.message` from the body -----

/** Any error class, for `instanceof`. */
type ErrorClass = new (...args: never[]) => Error;

const OPENAI_CLASSES: Record<number, ErrorClass> = {
  400: OpenAI.BadRequestError,
  401: OpenAI.AuthenticationError,
  403: OpenAI.PermissionDeniedError,
  404: OpenAI.NotFoundError,
  413: OpenAI.APIError,
  422: OpenAI.UnprocessableEntityError,
  429: OpenAI.RateLimitError,
  502: OpenAI.InternalServerError,
  503: OpenAI.InternalServerError,
  504: OpenAI.InternalServerError,
};

function assertOpenAIError(err: unknown, [status, message]: Expected): void {
  assert.ok(err instanceof OPENAI_CLASSES[status], `${status}: ${err}`);
  const e = err as InstanceType<typeof OpenAI.APIError>;
  assert.equal(e.status, status);
  assert.equal(e.headers?.get("content-type"), "application/json");
  assert.match((e.error as { message: string }).message, message);
  assert.equal(typeof e.code, "string");
  assert.equal(typeof e.type, "string");
}

gatewayTest("error shapes: the OpenAI SDK parses every gateway error on /v1/*", async (t) => {
  const s = await situations(t);
  // No retries: the SDK would retry each 5xx twice, which is not what is being checked here.
  const at = (key: string, url?: string) => {
    const client = openaiFor(t, "gateway", key, { maxRetries: 0 });
    return url ? client.withOptions({ baseURL: url + "/v1" }) : client;
  };
  const chat = (c: OpenAI, content = "Say hi") =>
    c.chat.completions.create({ model: "llama3", messages: [{ role: "user", content }] });
  const cases: Array<[Expected, () => Promise<unknown>]> = [
    [
      [400, /^Invalid request body: messages/],
      () => at(s.key).chat.completions.create({ model: "llama3", messages: "hi" as never }),
    ],
    [[401, /^Invalid API key$/], () => chat(at("sk-not-a-key"))],
    [[403, shapeMessage(403)], () => shapeOnly(403, (url) => chat(at(s.key, url)))],
    [[404, /^Route GET \/v1\/files not found$/], () => at(s.key).files.list()],
    [[413, /MAX_BODY_BYTES/], () => chat(at(s.key), big)],
    [[422, shapeMessage(422)], () => shapeOnly(422, (url) => chat(at(s.key, url)))],
    [[429, /^Daily request limit reached \(0 requests per day\)/], () => chat(at(s.spent))],
    [
      [504, /UPSTREAM_CONNECT_TIMEOUT/],
      () => s.slowOllama(() => at(s.key).responses.create({ model: "llama3", input: "Say hi" })),
    ],
    [[502, /^Cannot reach Ollama/], async () => {
      await s.stopOllama();
      return at(s.key).embeddings.create({ model: "all-minilm", input: "hi" });
    }],
  ];
  for (const [expected, call] of cases) assertOpenAIError(await caught(call), expected);
}, { env });

// ----- the Anthropic SDK on /v1/messages: Anthropic error types, `error.error.message` -----

const ANTHROPIC: Record<number, [ErrorClass, string]> = {
  400: [Anthropic.BadRequestError, "invalid_request_error"],
  401: [Anthropic.AuthenticationError, "authentication_error"],
  403: [Anthropic.PermissionDeniedError, "permission_error"],
  404: [Anthropic.NotFoundError, "not_found_error"],
  413: [Anthropic.ContentTooLargeError, "request_too_large"],
  422: [Anthropic.UnprocessableEntityError, "invalid_request_error"],
  429: [Anthropic.RateLimitError, "rate_limit_error"],
  502: [Anthropic.InternalServerError, "api_error"],
  503: [Anthropic.ServiceUnavailableError, "overloaded_error"],
  504: [Anthropic.GatewayTimeoutError, "timeout_error"],
};

function assertAnthropicError(err: unknown, [status, message]: Expected): void {
  const [errorClass, type] = ANTHROPIC[status];
  assert.ok(err instanceof errorClass, `${status}: ${err}`);
  const e = err as InstanceType<typeof Anthropic.APIError>;
  assert.equal(e.status, status);
  assert.equal(e.headers?.get("content-type"), "application/json");
  assert.equal(e.type, type);
  assert.match(e.apiMessage ?? "", message);
}

gatewayTest(
  "error shapes: the Anthropic SDK parses every gateway error on /v1/messages",
  async (t) => {
    const s = await situations(t);
    const at = (key: string, url?: string) => {
      const client = anthropicFor(t, "gateway", key, { maxRetries: 0 });
      return url ? client.withOptions({ baseURL: url }) : client;
    };
    const send = (c: Anthropic, content = "Say hi") =>
      c.messages.create({ ...anthropicRequest, messages: [{ role: "user", content }] });
    const cases: Array<[Expected, () => Promise<unknown>]> = [
      [
        [400, /^Invalid request body: max_tokens/],
        () => at(s.key).messages.create({ ...anthropicRequest, max_tokens: 0 }),
      ],
      [[401, /^Invalid API key$/], () => send(at("sk-not-a-key"))],
      [[403, shapeMessage(403)], () => shapeOnly(403, (url) => send(at(s.key, url)))],
      // The SDK's token counting endpoint is not served by Ollama, so not by the gateway.
      [
        [404, /^Route POST \/v1\/messages\/count_tokens not found$/],
        () => at(s.key).messages.countTokens({ model: "llama3", messages }),
      ],
      [[413, /MAX_BODY_BYTES/], () => send(at(s.key), big)],
      [[422, shapeMessage(422)], () => shapeOnly(422, (url) => send(at(s.key, url)))],
      [[429, /^Daily request limit reached \(0 requests per day\)/], () => send(at(s.spent))],
      [[504, /UPSTREAM_CONNECT_TIMEOUT/], () => s.slowOllama(() => send(at(s.key)))],
      [[502, /^Cannot reach Ollama/], async () => {
        await s.stopOllama();
        return send(at(s.key));
      }],
    ];
    for (const [expected, call] of cases) assertAnthropicError(await caught(call), expected);
  },
  { env },
);

// ----- 503: the quota database is unavailable, so nothing is admitted -----

for (const dialect of testDialects()) {
  Deno.test(`[${dialect}] error shapes: each client parses the 503 of an unavailable database`, async () => {
    const db = await createTestDatabase(dialect);
    const mock = await startMockOllama();
    const gateway = await startGateway(
      parseConfig({
        ADMIN_PASSWORD,
        PROXY_HOST: "127.0.0.1",
        PROXY_PORT: "0",
        ADMIN_PORT: "0",
        DATABASE_URL: db.url,
        OLLAMA_URL: mock.url,
      }),
      { log: createLogger("error", () => {}) },
    );
    try {
      // The database goes away under the running gateway.
      await gateway.deps.store.close();
      const key = "sk-any-key";
      const message = /^Quota database unavailable/;
      const ollama = new Ollama({
        host: gateway.proxyUrl,
        headers: { Authorization: `Bearer ${key}` },
      });
      assertOllamaError(
        await caught(() => ollama.chat({ model: "llama3", messages })),
        [503, message],
      );
      const openai = new OpenAI({ baseURL: gateway.proxyUrl + "/v1", apiKey: key, maxRetries: 0 });
      assertOpenAIError(
        await caught(() => openai.chat.completions.create({ model: "llama3", messages })),
        [503, message],
      );
      const anthropic = new Anthropic({ baseURL: gateway.proxyUrl, apiKey: key, maxRetries: 0 });
      const err = await caught(() => anthropic.messages.create(anthropicRequest));
      assertAnthropicError(err, [503, message]);
      // The SDKs would wait this long before a retry.
      assert.equal(
        (err as InstanceType<typeof Anthropic.APIError>).headers?.get("retry-after"),
        "5",
      );
      assert.equal(mock.inferenceCount(), 0);
    } finally {
      await gateway.close();
      await mock.close();
      await db.drop();
    }
  });
}
