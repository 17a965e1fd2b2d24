/**
 * A faithful mock of Ollama's HTTP API for the gateway's tests: the native `/api/*` routes, the
 * OpenAI-compatible `/v1/*` routes, the Anthropic Messages route and the Responses route, with
 * the framing, content types, key order, omitempty rules and Go JSON escaping of a real server
 * (see /work/shared/reference/ollama-api.md, Ollama v0.33.0).
 *
 * Generated text is deterministic: chunk `i` (from 0) is {@link mockChunkText}(i), and a whole
 * answer of `n` chunks is {@link mockAnswer}(n).
 *
 * Bodies are read the way Ollama's Go server reads them (mock_ollama/go_json.ts: case-insensitive
 * keys, the last duplicate wins, objects merge into maps and set pointers; mock_ollama/requests.ts:
 * Ollama's request structs and the compatibility layers' conversions). Everything the mock acts
 * on comes from that decoding, and {@link RecordedRequest.decoded} shows it. The prompt count is
 * fixed by default; `promptTokens: "rendered"` counts what Ollama renders (rule in
 * mock_ollama/prompt.ts).
 * @module
 */
import {
  decodeGo,
  goErrorMessage,
  goRaw,
  goString,
  type GoType,
  type JVal,
  type Scan,
  scanJSON,
} from "./mock_ollama/go_json.ts";
import {
  anthropicEstimate,
  ChatCompletionRequest,
  ChatRequest,
  CompletionRequest,
  CopyRequest,
  CreateRequest,
  DeleteRequest,
  EmbeddingRequest,
  EmbedRequest,
  fromChatRequest,
  fromCompleteRequest,
  fromMessagesRequest,
  fromResponsesRequest,
  GenerateRequest,
  MessagesRequest,
  type NativeChat,
  type NativeGenerate,
  OpenAIEmbedRequest,
  optionsFromMap,
  PullPushRequest,
  ResponsesRequest,
  setRawSource,
  ShowRequest,
} from "./mock_ollama/requests.ts";
import {
  chatTokens,
  generateTokens,
  MOCK_DEFAULT_NUM_CTX,
  textTokens,
} from "./mock_ollama/prompt.ts";

export {
  MOCK_DEFAULT_NUM_CTX,
  MOCK_IMAGE_TOKENS,
  MOCK_MESSAGE_TOKENS,
  textTokens,
} from "./mock_ollama/prompt.ts";

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/** One request the mock received. */
export interface RecordedRequest {
  method: string;
  /** URL path as sent (still percent-encoded). */
  path: string;
  /** Query string with its leading `?`, or `""`. */
  search: string;
  headers: Headers;
  /** Parsed JSON body (JSON.parse: exact keys, duplicates collapsed), or null when not JSON. */
  body: unknown;
  /** The body as text. */
  rawBody: string;
  /** What Ollama made of the body (inference routes that decoded it), else null. */
  decoded: DecodedRequest | null;
  /** True if the client (our gateway) aborted/cancelled while the mock was still producing. */
  aborted: boolean;
  /** HTTP status the mock answered with (0 while the answer is still pending). */
  status: number;
}

/** What an inference route decoded and then ran with, as Ollama would have. */
export interface DecodedRequest {
  /**
   * The route's request struct as Go's encoding/json filled it: keys are the json tags whatever
   * spelling the client used, fields never set are absent, `keep_alive` is in seconds (-1 =
   * forever), images are bytes, json.RawMessage fields are the raw tree.
   */
  request: Record<string, unknown>;
  /** The model name the handler used. */
  model: string;
  /** Whether the answer streams. */
  stream: boolean;
  /** The options the runner got after Options.FromMap (exact keys, Go's conversions). */
  options: Record<string, unknown>;
  /** The generation cap the runner applied (num_predict bounded to 10 × num_ctx). */
  numPredict: number;
  /** The runner's context length (options.num_ctx, default 4096, at most the model's). */
  numCtx: number;
  /** keep_alive in seconds (-1 = forever); undefined leaves Ollama's default (5 minutes). */
  keepAlive: number | undefined;
  /** The rendered prompt's token count (see mock_ollama/prompt.ts), clipped to numCtx. */
  promptTokens: number;
}

/** How the mock behaves; every field is optional and merged over the defaults. */
export interface MockBehaviour {
  /** Content chunks in streamed answers (default 3), each one "token". */
  chunks?: number;
  /** Delay between streamed chunks (default 0). */
  chunkDelayMs?: number;
  /** Delay before headers are sent on inference routes (default 0). */
  firstByteDelayMs?: number;
  /**
   * prompt_eval_count / usage.prompt_tokens: a fixed number (default 7), or "rendered" to count
   * everything Ollama renders into the prompt, clipped to num_ctx (rule in mock_ollama/prompt.ts).
   */
  promptTokens?: number | "rendered";
  /** Leave prompt_eval_count out (cached prompt); usage.prompt_tokens / input_tokens become 0. */
  omitPromptCount?: boolean;
  /** Leave eval_count out of the native final chunk; usage.completion_tokens becomes 0. */
  omitEvalCount?: boolean;
  /** The load_duration reported (ms; default 2.345678): above 1000 a cold load. */
  loadDurationMs?: number;
  /**
   * Error before the first byte, shaped per route. `phase` picks Ollama's code path, which only
   * changes the native streaming Content-Type: "runner" (default, `streamResponse`:
   * `application/json`) or "load" (`handleScheduleError`: `application/json; charset=utf-8`).
   */
  failWith?: { status: number; error: string; phase?: "runner" | "load" };
  /**
   * After N content chunks, fail the way Ollama does: native `{"error":"…"}` line; OpenAI an
   * empty-delta chunk then EOF with no finish chunk and no `[DONE]`; Anthropic/Responses plain
   * EOF. N = 0 means the error comes before the first byte (HTTP 500), as in Ollama. With
   * stream:false the answer is a 500 error. N larger than the chunk count fails after the last.
   */
  failMidStreamAfter?: number;
  /** Message of the mid-stream error (default "an error was encountered while running the model"). */
  midStreamError?: string;
  /**
   * Never finish: with chunkDelayMs > 0 stream one chunk every chunkDelayMs forever; with 0, send
   * the chunks and then stall. Non-streaming answers never come. Ends when the client aborts.
   */
  hang?: boolean;
  /** Installed model names (default ["llama3:latest", "llama3.2:latest", "all-minilm:latest"]). */
  models?: string[];
  /** Reported by /api/version (default "0.33.0"). */
  version?: string;
  /** Length of the deterministic embedding vectors (default 4). */
  embeddingDims?: number;
  /** Apply Ollama's loopback Host-header check (default true, as the mock listens on 127.0.0.1). */
  hostCheck?: boolean;
  /** Extra allowed CORS origins, like OLLAMA_ORIGINS (default none; built-ins always apply). */
  origins?: string[];
}

/** A running mock server. */
export interface MockOllama {
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Number of requests received on inference routes (whatever the outcome). */
  inferenceCount(): number;
  /** Replace the behaviour (merged over the built-in defaults, not over the start options). */
  set(b: MockBehaviour): void;
  /** Merge into the current behaviour. */
  update(b: MockBehaviour): void;
  /** Clear requests, ids and loaded models; behaviour back to the built-in defaults. */
  reset(): void;
  /** Resolves once no request is in flight (every answer finished or was aborted). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Text of generated chunk `i` (0-based), e.g. "tok0 ". */
export function mockChunkText(i: number): string {
  return `tok${i} `;
}

/** Whole generated text of an answer of `n` chunks, as stream:false answers return it. */
export function mockAnswer(n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += mockChunkText(i);
  return s;
}

/** Starts a mock Ollama on a free loopback port. */
export function startMockOllama(b: MockBehaviour = {}): Promise<MockOllama> {
  const state = new MockState(b);
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen() {},
      onError(err) {
        console.error("mock_ollama: handler error", err);
        return new Response("mock handler error", { status: 500 });
      },
    },
    (req) => state.handle(req),
  );
  const addr = server.addr as Deno.NetAddr;
  const url = `http://127.0.0.1:${addr.port}`;
  let closed: Promise<void> | undefined;
  return Promise.resolve({
    url,
    port: addr.port,
    requests: state.requests,
    inferenceCount: () => state.requests.filter((r) => INFERENCE_PATHS.has(r.path)).length,
    set: (nb) => state.set(nb),
    update: (nb) => state.update(nb),
    reset: () => state.reset(),
    idle: () => state.idle(),
    close() {
      closed ??= (async () => {
        state.closing.abort();
        await state.idle();
        await server.shutdown();
        await server.finished;
      })();
      return closed;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Behaviour and state
// ---------------------------------------------------------------------------------------------

interface Resolved {
  chunks: number;
  chunkDelayMs: number;
  firstByteDelayMs: number;
  promptTokens: number | "rendered";
  omitPromptCount: boolean;
  omitEvalCount: boolean;
  loadDurationMs: number;
  failWith?: { status: number; error: string; phase?: "runner" | "load" };
  failMidStreamAfter?: number;
  midStreamError: string;
  hang: boolean;
  models: string[];
  version: string;
  embeddingDims: number;
  hostCheck: boolean;
  origins: string[];
}

const DEFAULTS: Resolved = {
  chunks: 3,
  chunkDelayMs: 0,
  firstByteDelayMs: 0,
  promptTokens: 7,
  omitPromptCount: false,
  omitEvalCount: false,
  loadDurationMs: 2.345678,
  midStreamError: "an error was encountered while running the model",
  hang: false,
  models: ["llama3:latest", "llama3.2:latest", "all-minilm:latest"],
  version: "0.33.0",
  embeddingDims: 4,
  hostCheck: true,
  origins: [],
};

function merge(base: Resolved, b: MockBehaviour): Resolved {
  const out: Resolved = { ...base };
  for (const [k, v] of Object.entries(b)) {
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  out.models = [...out.models];
  out.origins = [...out.origins];
  return out;
}

const INFERENCE_PATHS = new Set([
  "/api/generate",
  "/api/chat",
  "/api/embed",
  "/api/embeddings",
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/embeddings",
  "/v1/responses",
  "/v1/messages",
  "/v1/audio/transcriptions",
]);

class MockState {
  readonly requests: RecordedRequest[] = [];
  readonly closing = new AbortController();
  b: Resolved;
  ids = new Map<string, number>();
  loaded = new Map<string, number>(); // display name -> expiry (ms since epoch)
  inflight = new Set<Promise<void>>();

  constructor(b: MockBehaviour) {
    this.b = merge(DEFAULTS, b);
  }

  set(b: MockBehaviour) {
    this.b = merge(DEFAULTS, b);
  }

  update(b: MockBehaviour) {
    this.b = merge(this.b, b);
  }

  reset() {
    this.requests.length = 0;
    this.b = merge(DEFAULTS, {});
    this.ids.clear();
    this.loaded.clear();
  }

  nextId(kind: string): number {
    const n = (this.ids.get(kind) ?? 0) + 1;
    this.ids.set(kind, n);
    return n;
  }

  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Finds the installed model a request names, or undefined. */
  findModel(name: string): string | undefined {
    const want = canonicalName(name);
    if (!want) return undefined;
    for (const m of this.b.models) {
      if (canonicalName(m) === want) return displayName(m);
    }
    return undefined;
  }

  /** keepAlive in seconds (-1 = forever; undefined = Ollama's default of 5 minutes). */
  markLoaded(display: string, keepAlive: number | undefined) {
    const secs = keepAlive ?? 300;
    if (secs === 0) this.loaded.delete(display);
    else if (secs < 0) this.loaded.set(display, Date.now() + 100 * 365 * 86400_000);
    else this.loaded.set(display, Date.now() + secs * 1000);
  }

  async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const rec: RecordedRequest = {
      method: req.method,
      path: url.pathname,
      search: url.search,
      headers: new Headers(req.headers),
      body: null,
      rawBody: "",
      decoded: null,
      aborted: false,
      status: 0,
    };
    this.requests.push(rec);
    const ctx = new Ctx(this, req, url, rec);
    this.inflight.add(ctx.settled);
    ctx.settled.then(() => this.inflight.delete(ctx.settled));
    try {
      const res = await this.route(ctx);
      rec.status = res.status;
      if (!ctx.streaming) ctx.finish();
      return res;
    } catch (err) {
      ctx.finish();
      throw err;
    }
  }

  async route(ctx: Ctx): Promise<Response> {
    const { req, url } = ctx;
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    const match = matchRoute(path, req.method);
    ctx.raw = await readBody(req);
    ctx.rec.rawBody = ctx.raw;
    ctx.scanned = scanJSON(ctx.raw);
    if (ctx.scanned.kind === "ok") ctx.rec.body = JSON.parse(ctx.scanned.text);

    // gin's trailing-slash redirect happens before any middleware.
    if (match.kind === "none" && path.length > 1 && path.endsWith("/")) {
      const alt = matchRoute(path.slice(0, -1), req.method);
      if (alt.kind === "ok") {
        const location = url.pathname.slice(0, -1) + url.search;
        if (req.method === "GET") {
          return new Response(`<a href="${location}">Moved Permanently</a>.\n\n`, {
            status: 301,
            headers: { "content-type": "text/html; charset=utf-8", location },
          });
        }
        return new Response(null, { status: 307, headers: { location } });
      }
    }

    // Middleware: CORS (gin-contrib/cors), then the Host check.
    const cors = corsCheck(req, this.b.origins);
    if (cors.kind === "forbidden") return empty(403);
    if (cors.kind === "preflight") {
      return new Response(null, { status: 204, headers: cors.headers });
    }
    if (this.b.hostCheck && !hostAllowed(req.headers.get("host"))) return empty(403);
    if (req.method === "OPTIONS") return withHeaders(empty(204), cors.headers);

    let res: Response;
    if (match.kind === "none") {
      res = text(404, "404 page not found", "text/plain");
    } else if (match.kind === "method") {
      res = text(405, "405 method not allowed", "text/plain");
    } else {
      ctx.params = match.params;
      res = await match.handler(ctx);
    }
    return withHeaders(res, cors.headers);
  }
}

/** Per-request context: body, abort tracking, streaming. */
class Ctx {
  raw = "";
  scanned: Scan = { kind: "eof" };
  params: Record<string, string> = {};
  streaming = false;
  finished = false;
  readonly local = new AbortController();
  readonly settled: Promise<void>;
  private resolveSettled!: () => void;
  private readonly onClientAbort = () => {
    if (!this.finished) this.rec.aborted = true;
    this.local.abort();
  };
  private readonly onClosing = () => this.local.abort();
  private watching = false;

  constructor(
    readonly state: MockState,
    readonly req: Request,
    readonly url: URL,
    readonly rec: RecordedRequest,
  ) {
    this.settled = new Promise((r) => (this.resolveSettled = r));
    state.closing.signal.addEventListener("abort", this.onClosing, { once: true });
    if (state.closing.signal.aborted) this.onClosing();
  }

  /**
   * Watches request.signal for a client that goes away before the answer starts. Only done
   * while actually waiting: touching request.signal makes Deno 2.9 print its one-time
   * "legacy abort" warning, and streams detect disconnects through cancel() anyway.
   */
  private watchClient() {
    if (this.watching || this.finished) return;
    this.watching = true;
    this.req.signal.addEventListener("abort", this.onClientAbort, { once: true });
    if (this.req.signal.aborted) this.onClientAbort();
  }

  /** Sleeps before the answer starts; ends early if the client goes away or the mock closes. */
  wait(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    this.watchClient();
    return sleep(ms, this.signal);
  }

  /** Waits, before the answer starts, until the client goes away or the mock closes. */
  waitForever(): Promise<void> {
    this.watchClient();
    return waitAbort(this.signal);
  }

  get b(): Resolved {
    return this.state.b;
  }

  get signal(): AbortSignal {
    return this.local.signal;
  }

  finish() {
    if (this.finished) return;
    this.finished = true;
    if (this.watching) this.req.signal.removeEventListener("abort", this.onClientAbort);
    this.state.closing.signal.removeEventListener("abort", this.onClosing);
    this.resolveSettled();
  }

  clientGone() {
    this.onClientAbort();
  }

  /** A streamed 200 answer whose body `produce` writes; ends the request when it returns. */
  stream(headers: Record<string, string>, produce: (write: (s: string) => void) => Promise<void>) {
    this.streaming = true;
    const enc = new TextEncoder();
    const signal = this.signal;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        (async () => {
          try {
            await produce((s) => {
              if (s && !signal.aborted) {
                try {
                  controller.enqueue(enc.encode(s));
                } catch {
                  // stream already cancelled
                }
              }
            });
          } catch (err) {
            console.error("mock_ollama: stream producer failed", err);
          } finally {
            this.finish();
            try {
              controller.close();
            } catch {
              // already closed or cancelled
            }
          }
        })();
      },
      cancel: () => this.clientGone(),
    });
    return new Response(body, { status: 200, headers });
  }
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

type Handler = (ctx: Ctx) => Promise<Response> | Response;
type RouteMatch =
  | { kind: "ok"; handler: Handler; params: Record<string, string> }
  | { kind: "method" }
  | { kind: "none" };

const ROUTES: Array<[string, Partial<Record<string, Handler>>]> = [
  ["/", { GET: () => text(200, "Ollama is running"), HEAD: () => text(200, null) }],
  ["/api/version", { GET: (c) => apiVersion(c), HEAD: (c) => apiVersion(c, true) }],
  ["/api/status", { GET: () => ginJSON(200, { cloud: { disabled: false, source: "none" } }) }],
  ["/api/tags", { GET: (c) => apiTags(c), HEAD: (c) => apiTags(c, true) }],
  ["/api/ps", { GET: (c) => apiPs(c) }],
  ["/api/show", { POST: (c) => apiShow(c) }],
  [
    "/api/experimental/model-recommendations",
    { GET: () => ginJSON(200, { recommendations: [] }) },
  ],
  ["/api/generate", { POST: (c) => apiGenerate(c) }],
  ["/api/chat", { POST: (c) => apiChat(c) }],
  ["/api/embed", { POST: (c) => apiEmbed(c) }],
  ["/api/embeddings", { POST: (c) => apiEmbeddings(c) }],
  ["/v1/chat/completions", { POST: (c) => v1ChatCompletions(c) }],
  ["/v1/completions", { POST: (c) => v1Completions(c) }],
  ["/v1/embeddings", { POST: (c) => v1Embeddings(c) }],
  ["/v1/models", { GET: (c) => v1Models(c) }],
  ["/v1/models/:model", { GET: (c) => v1Model(c) }],
  ["/v1/responses", { POST: (c) => v1Responses(c) }],
  ["/v1/audio/transcriptions", { POST: (c) => v1Transcriptions(c) }],
  ["/v1/messages", { POST: (c) => v1Messages(c) }],
  ["/api/pull", { POST: (c) => apiProgress(c, "pull") }],
  ["/api/push", { POST: (c) => apiProgress(c, "push") }],
  ["/api/create", { POST: (c) => apiProgress(c, "create") }],
  ["/api/copy", { POST: (c) => apiCopy(c) }],
  ["/api/delete", { DELETE: (c) => apiDelete(c) }],
  [
    "/api/blobs/:digest",
    {
      HEAD: () => new Response(null, { status: 404, headers: { "content-type": CT_GIN } }),
      POST: () => empty(201),
    },
  ],
  ["/api/me", { POST: () => unauthorized() }],
  ["/api/signout", { POST: () => empty(200) }],
  ["/api/user/keys/:encodedKey", { DELETE: () => empty(200) }],
  ["/api/experimental/web_search", { POST: () => unauthorized() }],
  ["/api/experimental/web_fetch", { POST: () => unauthorized() }],
];

function matchRoute(path: string, method: string): RouteMatch {
  const segs = path.split("/");
  let methodMismatch = false;
  for (const [pattern, methods] of ROUTES) {
    const psegs = pattern.split("/");
    if (psegs.length !== segs.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < psegs.length; i++) {
      if (psegs[i].startsWith(":")) {
        if (segs[i] === "") ok = false;
        else params[psegs[i].slice(1)] = segs[i];
      } else if (psegs[i] !== segs[i]) ok = false;
      if (!ok) break;
    }
    if (!ok) continue;
    const handler = methods[method];
    if (handler) return { kind: "ok", handler, params };
    methodMismatch = true;
  }
  return methodMismatch ? { kind: "method" } : { kind: "none" };
}

// ---------------------------------------------------------------------------------------------
// Go-flavoured JSON
// ---------------------------------------------------------------------------------------------

/** A Go map: keys come out sorted. */
class GoMap {
  constructor(readonly value: Record<string, unknown>) {}
}

/** A float32: printed with the shortest digits that round-trip as float32. */
class F32 {
  constructor(readonly value: number) {}
}

/** A json.RawMessage echoed from the request: written as sent (compacted), even inside maps. */
class AsIs {
  constructor(readonly value: JVal) {}
}

function f32String(x: number): string {
  const f = Math.fround(x);
  if (f === 0 || !Number.isFinite(f)) return "0";
  for (let p = 1; p <= 9; p++) {
    const n = Number(f.toPrecision(p));
    if (Math.fround(n) === f) return String(n);
  }
  return String(f);
}

/** Serializes like Go's encoding/json: compact, HTML-escaped; `undefined` fields are omitted. */
function goJson(v: unknown, sortKeys = false): string {
  if (v === null || v === undefined) return "null";
  if (v instanceof F32) return f32String(v.value);
  if (v instanceof AsIs) return goRaw(v.value);
  if (v instanceof GoMap) return goObject(v.value, true);
  switch (typeof v) {
    case "string":
      return goString(v);
    case "number":
      return Number.isFinite(v) ? String(v) : "null";
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      return v.toString();
  }
  if (Array.isArray(v)) return "[" + v.map((x) => goJson(x, sortKeys)).join(",") + "]";
  return goObject(v as Record<string, unknown>, sortKeys);
}

function goObject(o: Record<string, unknown>, sortKeys: boolean): string {
  const keys = Object.keys(o).filter((k) => o[k] !== undefined);
  if (sortKeys) keys.sort();
  return "{" + keys.map((k) => goString(k) + ":" + goJson(o[k], sortKeys)).join(",") + "}";
}

// ---------------------------------------------------------------------------------------------
// Request bodies (Go json.Decoder semantics)
// ---------------------------------------------------------------------------------------------

async function readBody(req: Request): Promise<string> {
  if (!req.body) return "";
  try {
    return await req.text();
  } catch {
    return "";
  }
}

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A field of a decoded Go struct or a Go map (keys are exact: structs hold json tag names). */
function get(o: unknown, name: string): unknown {
  return isObj(o) && Object.hasOwn(o, name) ? o[name] : undefined;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function list<X = Json>(v: unknown): X[] {
  return Array.isArray(v) ? (v as X[]) : [];
}

type Parsed = { ok: true; value: Json } | { ok: false; eof: boolean; message: string };

/** c.ShouldBindJSON into the Go struct `type`: Go's errors, Go's field matching. */
function parseRequest(ctx: Ctx, type: GoType): Parsed {
  const scanned = ctx.scanned;
  if (scanned.kind === "eof") return { ok: false, eof: true, message: "EOF" };
  if (scanned.kind === "error") return { ok: false, eof: false, message: scanned.message };
  setRawSource(ctx.raw);
  const r = decodeGo(type, scanned.value);
  if (!r.ok) return { ok: false, eof: false, message: goErrorMessage(r.error) };
  return { ok: true, value: (r.value as Json | undefined) ?? {} };
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

const CT_GIN = "application/json; charset=utf-8";
const CT_JSON = "application/json";

function text(status: number, body: string | null, contentType = "text/plain; charset=utf-8") {
  return new Response(body, { status, headers: { "content-type": contentType } });
}

function empty(status: number): Response {
  return new Response(null, { status });
}

/** gin's c.JSON: `application/json; charset=utf-8`, no trailing newline. */
function ginJSON(status: number, obj: unknown, head = false): Response {
  return new Response(head ? null : goJson(obj), {
    status,
    headers: { "content-type": CT_GIN },
  });
}

/** `application/json` with Go's json.Encoder (trailing newline) or json.Marshal. */
function plainJSON(status: number, obj: unknown, newline: boolean, extra?: HeadersInit): Response {
  const headers = new Headers(extra);
  headers.set("content-type", CT_JSON);
  return new Response(goJson(obj) + (newline ? "\n" : ""), { status, headers });
}

function withHeaders(res: Response, extra: Record<string, string>): Response {
  for (const [k, v] of Object.entries(extra)) {
    if (k.toLowerCase() === "vary") res.headers.append(k, v);
    else res.headers.set(k, v);
  }
  return res;
}

function unauthorized(): Response {
  return ginJSON(401, {
    error: "unauthorized",
    signin_url: "https://ollama.com/connect?name=mock-ollama&key=bW9jaw",
  });
}

function nativeError(status: number, message: string): Response {
  return ginJSON(status, { error: message });
}

function openaiErrorBody(status: number, message: string) {
  const type = status === 400
    ? "invalid_request_error"
    : status === 404
    ? "not_found_error"
    : "api_error";
  return { error: { message, type, param: null, code: null } };
}

function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return "api_error";
  }
}

function anthropicErrorBody(state: MockState, status: number, message: string) {
  return {
    type: "error",
    error: { type: anthropicErrorType(status), message },
    request_id: "req_" + state.nextId("req").toString(16).padStart(24, "0"),
  };
}

// ---------------------------------------------------------------------------------------------
// Host check and CORS
// ---------------------------------------------------------------------------------------------

function parseIPv4(h: string): number[] | null {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(h);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}

function ipv4Allowed(p: number[]): boolean {
  return p[0] === 127 || // loopback
    p[0] === 10 || // private
    (p[0] === 172 && p[1] >= 16 && p[1] <= 31) ||
    (p[0] === 192 && p[1] === 168) ||
    p.every((x) => x === 0); // unspecified
}

function ipv6Allowed(h: string): boolean | null {
  if (!h.includes(":") || !/^[0-9a-f:.]+$/.test(h)) return null;
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped) {
    const p = parseIPv4(mapped[1]);
    return p ? ipv4Allowed(p) : null;
  }
  const halves = h.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  if (halves.length === 1 && head.length !== 8) return null;
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || [...head, ...tail].some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
  const groups = [...head, ...Array(halves.length === 2 ? fill : 0).fill("0"), ...tail].map((g) =>
    parseInt(g, 16)
  );
  if (groups.every((g) => g === 0)) return true; // unspecified
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return true; // loopback
  return (groups[0] & 0xfe00) === 0xfc00; // unique local (private)
}

function localHostname(): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state !== "granted") {
      return undefined;
    }
    return Deno.hostname().toLowerCase();
  } catch {
    return undefined;
  }
}

function localInterfaceAddresses(): string[] {
  try {
    if (
      Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" }).state !== "granted"
    ) {
      return [];
    }
    return Deno.networkInterfaces().map((n) => n.address.toLowerCase());
  } catch {
    return [];
  }
}

/** Ollama's allowedHostsMiddleware for a loopback-bound server (reference §2.6). */
function hostAllowed(hostHeader: string | null): boolean {
  let host = (hostHeader ?? "").trim();
  if (host === "") return true;
  // net.SplitHostPort, falling back to the whole value.
  const bracket = /^\[([^\]]*)\](?::\d*)?$/.exec(host);
  if (bracket) host = bracket[1];
  else if ((host.match(/:/g) ?? []).length === 1) host = host.slice(0, host.indexOf(":"));
  host = host.toLowerCase();
  const v4 = parseIPv4(host);
  if (v4 && ipv4Allowed(v4)) return true;
  if (!v4 && ipv6Allowed(host) === true) return true;
  if ((v4 || ipv6Allowed(host) !== null) && localInterfaceAddresses().includes(host)) return true;
  if (host === "" || host === "localhost") return true;
  if (host === localHostname()) return true;
  return [".localhost", ".local", ".internal"].some((tld) => host.endsWith(tld));
}

const CORS_BUILTIN = [
  ...["localhost", "127.0.0.1", "0.0.0.0"].flatMap((h) => [
    `http://${h}`,
    `https://${h}`,
    `http://${h}:*`,
    `https://${h}:*`,
  ]),
  "app://*",
  "file://*",
  "tauri://*",
  "vscode-webview://*",
  "vscode-file://*",
];
const CORS_EXTENSIONS = [
  "chrome-extension://",
  "safari-extension://",
  "moz-extension://",
  "ms-browser-extension://",
];
const CORS_ALLOW_HEADERS = [
  "Authorization",
  "Content-Type",
  "User-Agent",
  "Accept",
  "X-Requested-With",
  "OpenAI-Beta",
  "x-stainless-arch",
  "x-stainless-async",
  "x-stainless-custom-poll-interval",
  "x-stainless-helper-method",
  "x-stainless-lang",
  "x-stainless-os",
  "x-stainless-package-version",
  "x-stainless-poll-helper",
  "x-stainless-retry-count",
  "x-stainless-runtime",
  "x-stainless-runtime-version",
  "x-stainless-timeout",
].map((h) => h.toLowerCase().replace(/(^|-)([a-z])/g, (_, d, c) => d + c.toUpperCase()));

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(
    "^" + pattern.split("*").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$",
  );
  return re.test(value);
}

type Cors =
  | { kind: "pass"; headers: Record<string, string> }
  | { kind: "forbidden" }
  | { kind: "preflight"; headers: Headers };

/** gin-contrib/cors as configured by Ollama (reference §2.7). */
function corsCheck(req: Request, extraOrigins: string[]): Cors {
  const origin = req.headers.get("origin");
  if (!origin) return { kind: "pass", headers: {} };
  const host = req.headers.get("host") ?? "";
  if (origin === `http://${host}` || origin === `https://${host}`) {
    return { kind: "pass", headers: {} };
  }
  const patterns = [...extraOrigins.map((o) => o.trim()).filter(Boolean), ...CORS_BUILTIN];
  const all = patterns.includes("*");
  const allowed = all || patterns.some((p) => globMatch(p, origin)) ||
    CORS_EXTENSIONS.some((e) => origin.startsWith(e));
  if (!allowed) return { kind: "forbidden" };
  const allowOrigin = all ? "*" : origin;
  if (req.method === "OPTIONS") {
    const h = new Headers();
    h.set("access-control-allow-methods", "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS");
    h.set("access-control-allow-headers", CORS_ALLOW_HEADERS.join(","));
    h.set("access-control-max-age", "43200");
    if (!all) {
      h.append("vary", "Origin");
      h.append("vary", "Access-Control-Request-Method");
      h.append("vary", "Access-Control-Request-Headers");
    }
    h.set("access-control-allow-origin", allowOrigin);
    return { kind: "preflight", headers: h };
  }
  const headers: Record<string, string> = { "access-control-allow-origin": allowOrigin };
  if (!all) headers["vary"] = "Origin";
  return { kind: "pass", headers };
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

const NAME_PART = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

interface ModelName {
  host: string;
  namespace: string;
  model: string;
  tag: string;
}

/** model.ParseName: `[host/][namespace/]model[:tag]`, or null when invalid. */
function parseName(name: string): ModelName | null {
  let s = name.trim();
  const at = s.indexOf("@");
  if (at >= 0) s = s.slice(0, at);
  let tag = "latest";
  const slash = s.lastIndexOf("/");
  const colon = s.lastIndexOf(":");
  if (colon > slash) {
    tag = s.slice(colon + 1);
    s = s.slice(0, colon);
    if (!NAME_PART.test(tag)) return null;
  }
  const parts = s.split("/");
  if (parts.length > 3) return null;
  const model = parts.pop() ?? "";
  const namespace = parts.pop() ?? "library";
  const host = parts.pop() ?? "registry.ollama.ai";
  if (!NAME_PART.test(model) || !NAME_PART.test(namespace)) return null;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/.test(host)) return null;
  return { host, namespace, model, tag };
}

function canonicalName(name: string): string | null {
  const n = parseName(name);
  return n ? `${n.host}/${n.namespace}/${n.model}:${n.tag}`.toLowerCase() : null;
}

/** The short display name with its tag, as /api/tags shows it. */
function displayName(name: string): string {
  const s = name.trim();
  return s.lastIndexOf(":") > s.lastIndexOf("/") ? s : `${s}:latest`;
}

function isEmbeddingModel(display: string): boolean {
  return /embed|minilm|(^|\/)bge/i.test(display);
}

function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (const b of new TextEncoder().encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function digestOf(name: string): string {
  let out = "";
  for (let k = 0; out.length < 64; k++) out += fnv1a(name, k + 1).toString(16).padStart(8, "0");
  return out.slice(0, 64);
}

const MODIFIED_BASE = Date.UTC(2026, 7, 1, 16, 12, 44, 706); // 2026-08-01T16:12:44.706Z

/** RFC 3339 with nanoseconds in the local zone, like a Go time.Time in time.Local. */
function rfc3339Local(ms: number, extraNanos = 0): string {
  const offMin = -new Date(ms).getTimezoneOffset();
  const shifted = new Date(ms + offMin * 60_000).toISOString();
  const frac = trimFraction(
    String(Math.floor(ms % 1000)).padStart(3, "0") +
      String(extraNanos).padStart(6, "0"),
  );
  const sign = offMin >= 0 ? "+" : "-";
  const a = Math.abs(offMin);
  const zone = offMin === 0
    ? "Z"
    : `${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
  return shifted.slice(0, 19) + frac + zone;
}

function trimFraction(digits: string): string {
  const t = digits.replace(/0+$/, "");
  return t ? "." + t : "";
}

/** Go's RFC 3339 (nanoseconds, trailing zeros trimmed) in UTC for `created_at`. */
function createdAt(): string {
  const t = performance.timeOrigin + performance.now();
  const ms = Math.floor(t);
  const sub = Math.min(999_999, Math.floor((t - ms) * 1e6));
  return new Date(ms).toISOString().slice(0, 19) +
    trimFraction(String(ms % 1000).padStart(3, "0") + String(sub).padStart(6, "0")) + "Z";
}

function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

interface ModelInfo {
  display: string;
  modifiedMs: number;
  modifiedAt: string;
  size: number;
  digest: string;
  embedding: boolean;
  details: Json;
  contextLength: number;
  embeddingLength: number;
}

function modelInfo(name: string, index: number): ModelInfo {
  const display = displayName(name);
  const embedding = isEmbeddingModel(display);
  const modifiedMs = MODIFIED_BASE - index * 86_400_000;
  const family = embedding ? "bert" : "llama";
  return {
    display,
    modifiedMs,
    modifiedAt: rfc3339Local(modifiedMs, 15396),
    size: embedding ? 45960996 : 2019393189 + (fnv1a(display) % 1000) * 1000,
    digest: digestOf(display),
    embedding,
    contextLength: embedding ? 512 : 131072,
    embeddingLength: embedding ? 384 : 3072,
    details: {
      parent_model: "",
      format: "gguf",
      family,
      families: [family],
      parameter_size: embedding ? "23M" : "3.2B",
      quantization_level: embedding ? "F16" : "Q4_K_M",
    },
  };
}

function installed(b: Resolved): ModelInfo[] {
  return b.models.map((m, i) => modelInfo(m, i));
}

function infoFor(b: Resolved, display: string): ModelInfo {
  const i = b.models.findIndex((m) => displayName(m) === display);
  return modelInfo(display, Math.max(0, i));
}

function ownedBy(name: string): string {
  return parseName(name)?.namespace ?? "library";
}

// ---------------------------------------------------------------------------------------------
// Metadata routes
// ---------------------------------------------------------------------------------------------

function apiVersion(ctx: Ctx, head = false): Response {
  return ginJSON(200, { version: ctx.b.version }, head);
}

function apiTags(ctx: Ctx, head = false): Response {
  const models = installed(ctx.b).map((m) => ({
    name: m.display,
    model: m.display,
    modified_at: m.modifiedAt,
    size: m.size,
    digest: m.digest,
    details: { ...m.details, context_length: m.contextLength, embedding_length: m.embeddingLength },
    capabilities: m.embedding ? ["embedding"] : ["completion", "tools"],
  }));
  return ginJSON(200, { models }, head);
}

function apiPs(ctx: Ctx): Response {
  const now = Date.now();
  const rows = [...ctx.state.loaded.entries()]
    .filter(([, exp]) => exp > now)
    .sort((a, b) => b[1] - a[1])
    .map(([display, exp]) => {
      const m = infoFor(ctx.b, display);
      return {
        name: m.display,
        model: m.display,
        size: m.size + 1_000_000_000,
        digest: m.digest,
        details: m.details,
        expires_at: rfc3339Local(exp, 123456),
        size_vram: m.size + 1_000_000_000,
        context_length: m.embedding ? 512 : 4096,
      };
    });
  return ginJSON(200, { models: rows });
}

function showObject(m: ModelInfo): Json {
  const arch = m.embedding ? "bert" : "llama";
  return {
    license: "MOCK LICENSE",
    modelfile: `# Modelfile generated by "ollama show"\nFROM ${m.display}\n` +
      `TEMPLATE "{{ .Prompt }}"\nPARAMETER stop <|eot_id|>\n`,
    parameters: 'stop                           "<|eot_id|>"',
    template: "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n" +
      "{{ .System }}<|eot_id|>{{ end }}{{ .Prompt }}",
    details: m.details,
    model_info: new GoMap({
      "general.architecture": arch,
      "general.parameter_count": m.embedding ? 22565376 : 3212749888,
      [`${arch}.context_length`]: m.contextLength,
      [`${arch}.embedding_length`]: m.embeddingLength,
    }),
    capabilities: m.embedding ? ["embedding"] : ["completion", "tools"],
    modified_at: m.modifiedAt,
  };
}

function apiShow(ctx: Ctx): Response {
  const p = parseRequest(ctx, ShowRequest);
  if (!p.ok) return nativeError(400, p.eof ? "missing request body" : p.message);
  let model = str(get(p.value, "model"));
  if (model === "") model = str(get(p.value, "name"));
  if (model === "") return nativeError(400, "model is required");
  const display = ctx.state.findModel(model);
  if (!display) return nativeError(404, `model '${model}' not found`);
  return ginJSON(200, showObject(infoFor(ctx.b, display)));
}

function v1Models(ctx: Ctx): Response {
  const data = installed(ctx.b).map((m) => ({
    id: m.display,
    object: "model",
    created: Math.floor(m.modifiedMs / 1000),
    owned_by: ownedBy(m.display),
  }));
  return plainJSON(200, { object: "list", data: data.length ? data : null }, true);
}

function v1Model(ctx: Ctx): Response {
  const model = ctx.params.model;
  const display = ctx.state.findModel(model);
  if (!display) {
    return plainJSON(404, openaiErrorBody(404, `model '${model}' not found`), true);
  }
  const m = infoFor(ctx.b, display);
  return plainJSON(
    200,
    {
      id: model,
      object: "model",
      created: Math.floor(m.modifiedMs / 1000),
      owned_by: ownedBy(model),
    },
    true,
  );
}

// ---------------------------------------------------------------------------------------------
// Model management (simple answers)
// ---------------------------------------------------------------------------------------------

function apiProgress(ctx: Ctx, kind: "pull" | "push" | "create"): Response {
  const p = parseRequest(
    ctx,
    kind === "create"
      ? CreateRequest
      : PullPushRequest(`api.${kind[0].toUpperCase()}${kind.slice(1)}Request`),
  );
  if (!p.ok) return nativeError(400, p.eof ? "missing request body" : p.message);
  let model = str(get(p.value, "model"));
  if (model === "") model = str(get(p.value, "name"));
  if (model === "") return nativeError(400, "model is required");
  const digest = "sha256:" + digestOf(displayName(model));
  const lines: Json[] = kind === "pull"
    ? [
      { status: "pulling manifest" },
      { status: `pulling ${digest.slice(7, 19)}`, digest, total: 2019377376 },
      {
        status: `pulling ${digest.slice(7, 19)}`,
        digest,
        total: 2019377376,
        completed: 2019377376,
      },
      { status: "verifying sha256 digest" },
      { status: "writing manifest" },
      { status: "success" },
    ]
    : kind === "push"
    ? [
      { status: "retrieving manifest" },
      { status: `pushing ${digest.slice(7, 19)}`, digest, total: 2019377376 },
      { status: "pushing manifest" },
      { status: "success" },
    ]
    : [
      { status: "gathering model components" },
      { status: `using existing layer ${digest}` },
      { status: "writing manifest" },
      { status: "success" },
    ];
  if (get(p.value, "stream") === false) {
    return new Response(goJson(lines[lines.length - 1]), {
      status: 200,
      headers: { "content-type": CT_JSON },
    });
  }
  return new Response(lines.map((l) => goJson(l) + "\n").join(""), {
    status: 200,
    headers: { "content-type": "application/x-ndjson" },
  });
}

function apiCopy(ctx: Ctx): Response {
  const p = parseRequest(ctx, CopyRequest);
  if (!p.ok) return nativeError(400, p.eof ? "missing request body" : p.message);
  const source = str(get(p.value, "source"));
  if (!ctx.state.findModel(source)) return nativeError(404, `model ${goQuote(source)} not found`);
  return empty(200);
}

function apiDelete(ctx: Ctx): Response {
  const p = parseRequest(ctx, DeleteRequest);
  if (!p.ok) return nativeError(400, p.eof ? "missing request body" : p.message);
  let model = str(get(p.value, "model"));
  if (model === "") model = str(get(p.value, "name"));
  if (!ctx.state.findModel(model)) return nativeError(404, `model '${model}' not found`);
  return empty(200);
}

/** Go's %q for the plain strings model names are. */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

// ---------------------------------------------------------------------------------------------
// Timing helpers
// ---------------------------------------------------------------------------------------------

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function waitAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

/** What to answer once the client is gone (nobody reads it). */
function gone(): Response {
  return new Response(null, { status: 499 });
}

// ---------------------------------------------------------------------------------------------
// Native inference objects
// ---------------------------------------------------------------------------------------------

type Kind = "chat" | "generate";

interface Metrics {
  start: number;
  firstToken: number;
}

/** The prompt_eval_count to report: the fixed behaviour, or the rendered count. */
function reportedPrompt(b: Resolved, rendered: number): number {
  return b.promptTokens === "rendered" ? rendered : b.promptTokens;
}

function metricsFields(b: Resolved, n: number, m: Metrics, prompt: number): Json {
  const now = performance.now();
  const load = Math.round(b.loadDurationMs * 1e6);
  const promptEval = Math.max(1, Math.round((m.firstToken - m.start) * 1e6)) + 1_234_567;
  const evalDur = Math.max(1, Math.round((now - m.firstToken) * 1e6)) + 1_000_000 * n;
  const total = Math.max(Math.round((now - m.start) * 1e6), load + promptEval + evalDur) + 123_456;
  return {
    total_duration: total,
    load_duration: load,
    prompt_eval_count: b.omitPromptCount || prompt === 0 ? undefined : prompt,
    prompt_eval_duration: promptEval,
    eval_count: b.omitEvalCount || n === 0 ? undefined : n,
    eval_duration: evalDur,
  };
}

function nativeChunk(kind: Kind, model: string, content: string): Json {
  return kind === "chat"
    ? { model, created_at: createdAt(), message: { role: "assistant", content }, done: false }
    : { model, created_at: createdAt(), response: content, done: false };
}

function nativeFinal(
  kind: Kind,
  model: string,
  content: string,
  reason: string,
  b: Resolved,
  n: number,
  m: Metrics,
  raw: boolean,
  prompt: number,
): Json {
  const metrics = metricsFields(b, n, m, prompt);
  if (kind === "chat") {
    return {
      model,
      created_at: createdAt(),
      message: { role: "assistant", content },
      done: true,
      done_reason: reason,
      ...metrics,
    };
  }
  const ctxLen = raw ? 0 : prompt + n;
  return {
    model,
    created_at: createdAt(),
    response: content,
    done: true,
    done_reason: reason,
    context: ctxLen > 0 ? Array.from({ length: ctxLen }, (_, i) => 128000 + i) : undefined,
    ...metrics,
  };
}

function nativeLoad(kind: Kind, model: string, reason: "load" | "unload"): Json {
  return kind === "chat"
    ? {
      model,
      created_at: createdAt(),
      message: { role: "assistant", content: "" },
      done: true,
      done_reason: reason,
    }
    : { model, created_at: createdAt(), response: "", done: true, done_reason: reason };
}

function contentOf(obj: Json): string {
  const msg = obj.message;
  if (isObj(msg)) return str(msg.content);
  return str(obj.response);
}

function promptCount(obj: Json): number {
  return typeof obj.prompt_eval_count === "number" ? obj.prompt_eval_count : 0;
}

function evalCount(obj: Json): number {
  return typeof obj.eval_count === "number" ? obj.eval_count : 0;
}

function usageOf(obj: Json) {
  const p = promptCount(obj);
  const c = evalCount(obj);
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
}

// ---------------------------------------------------------------------------------------------
// Surfaces: how each route frames the native handler's writes
// ---------------------------------------------------------------------------------------------

abstract class Surface {
  constructor(readonly kind: Kind, readonly stream: boolean) {}
  abstract readonly streamHeaders: Record<string, string>;
  /** Bytes for one native write while streaming. */
  abstract write(obj: Json): string;
  /** Bytes for the native mid-stream `{"error":…}` line. */
  abstract writeError(message: string): string;
  /** The answer when the native handler makes a single c.JSON write (stream:false, load). */
  abstract single(obj: Json): Response;
  /** An error raised by the native handler before the first byte. */
  abstract error(status: number, message: string, phase: "handler" | "stream"): Response;
  /** The native object a compat writer decodes from `{"error":…}`: all zero values. */
  zero(): Json {
    return this.kind === "chat"
      ? {
        model: "",
        created_at: "0001-01-01T00:00:00Z",
        message: { role: "", content: "" },
        done: false,
      }
      : { model: "", created_at: "0001-01-01T00:00:00Z", response: "", done: false };
  }
}

class NativeSurface extends Surface {
  readonly streamHeaders = { "content-type": "application/x-ndjson" };
  write(obj: Json): string {
    return goJson(obj) + "\n";
  }
  writeError(message: string): string {
    return goJson({ error: message }) + "\n";
  }
  single(obj: Json): Response {
    return ginJSON(200, obj);
  }
  error(status: number, message: string, phase: "handler" | "stream"): Response {
    if (phase === "stream" && this.stream) return plainJSON(status, { error: message }, false);
    return nativeError(status, message);
  }
}

abstract class CompatSurface extends Surface {
  abstract complete(obj: Json): Response;
  single(obj: Json): Response {
    if (!this.stream) return this.complete(obj);
    return new Response(this.write(obj), { status: 200, headers: this.streamHeaders });
  }
  writeError(_message: string): string {
    return this.write(this.zero());
  }
  errorHeaders(): HeadersInit | undefined {
    return undefined;
  }
  error(status: number, message: string): Response {
    return plainJSON(status, openaiErrorBody(status, message), true, this.errorHeaders());
  }
}

class OpenAIChatSurface extends CompatSurface {
  readonly streamHeaders = { "content-type": "text/event-stream" };
  private sent = false;
  private created = 0;
  constructor(stream: boolean, readonly includeUsage: boolean, readonly id: string) {
    super("chat", stream);
  }
  private chunk(obj: Json, choices: unknown[], usage?: unknown): string {
    return "data: " + goJson({
      id: this.id,
      object: "chat.completion.chunk",
      created: this.created,
      model: obj.model,
      system_fingerprint: "fp_ollama",
      choices,
      usage,
    }) + "\n\n";
  }
  write(obj: Json): string {
    if (!this.sent) this.created = unixSeconds();
    let out = "";
    const content = contentOf(obj);
    if (!obj.done || content !== "" || !this.sent) {
      const delta = this.sent ? { content } : { role: "assistant", content };
      out += this.chunk(obj, [{ index: 0, delta, finish_reason: null }]);
      this.sent = true;
    }
    if (obj.done) {
      const reason = str(obj.done_reason) || null;
      out += this.chunk(obj, [{ index: 0, delta: {}, finish_reason: reason }]);
      if (this.includeUsage) out += this.chunk(obj, [], usageOf(obj));
      out += "data: [DONE]\n\n";
    }
    return out;
  }
  complete(obj: Json): Response {
    return plainJSON(200, {
      id: this.id,
      object: "chat.completion",
      created: unixSeconds(),
      model: obj.model,
      system_fingerprint: "fp_ollama",
      choices: [{
        index: 0,
        message: { role: "assistant", content: contentOf(obj) },
        finish_reason: str(obj.done_reason) || null,
      }],
      usage: usageOf(obj),
    }, true);
  }
}

class OpenAICompletionSurface extends CompatSurface {
  readonly streamHeaders = { "content-type": "text/event-stream" };
  constructor(stream: boolean, readonly includeUsage: boolean, readonly id: string) {
    super("generate", stream);
  }
  write(obj: Json): string {
    const created = unixSeconds();
    const zero = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    let out = "data: " + goJson({
      id: this.id,
      object: "text_completion",
      created,
      choices: [{ text: contentOf(obj), index: 0, finish_reason: str(obj.done_reason) || null }],
      model: obj.model,
      system_fingerprint: "fp_ollama",
      usage: this.includeUsage ? zero : undefined,
    }) + "\n\n";
    if (obj.done) {
      if (this.includeUsage) {
        out += "data: " + goJson({
          id: this.id,
          object: "text_completion",
          created,
          choices: [],
          model: obj.model,
          system_fingerprint: "fp_ollama",
          usage: usageOf(obj),
        }) + "\n\n";
      }
      out += "data: [DONE]\n\n";
    }
    return out;
  }
  complete(obj: Json): Response {
    return plainJSON(200, {
      id: this.id,
      object: "text_completion",
      created: unixSeconds(),
      model: obj.model,
      system_fingerprint: "fp_ollama",
      choices: [{ text: contentOf(obj), index: 0, finish_reason: str(obj.done_reason) || null }],
      usage: usageOf(obj),
    }, true);
  }
}

function anthropicStopReason(reason: string): string | undefined {
  if (reason === "stop") return "end_turn";
  if (reason === "length") return "max_tokens";
  return reason ? "stop_sequence" : undefined;
}

class AnthropicSurface extends CompatSurface {
  readonly streamHeaders = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "connection": "keep-alive",
  };
  private first = true;
  private textStarted = false;
  constructor(
    stream: boolean,
    readonly state: MockState,
    readonly id: string,
    readonly model: string,
    readonly estimate: number,
  ) {
    super("chat", stream);
  }
  private event(type: string, data: unknown): string {
    return `event: ${type}\ndata: ${goJson(data)}\n\n`;
  }
  write(obj: Json): string {
    let out = "";
    if (this.first) {
      this.first = false;
      let input = promptCount(obj);
      if (input === 0 && this.estimate > 0) input = this.estimate;
      out += this.event("message_start", {
        type: "message_start",
        message: {
          id: this.id,
          type: "message",
          role: "assistant",
          model: this.model,
          content: [],
          usage: { input_tokens: input, output_tokens: 0 },
        },
      });
    }
    const content = contentOf(obj);
    if (content !== "") {
      if (!this.textStarted) {
        this.textStarted = true;
        out += this.event("content_block_start", {
          type: "content_block_start",
          index: 0,
          content_block: { type: "text", text: "" },
        });
      }
      out += this.event("content_block_delta", {
        type: "content_block_delta",
        index: 0,
        delta: { type: "text_delta", text: content },
      });
    }
    if (obj.done) {
      if (this.textStarted) {
        out += this.event("content_block_stop", { type: "content_block_stop", index: 0 });
      }
      out += this.event("message_delta", {
        type: "message_delta",
        delta: { stop_reason: anthropicStopReason(str(obj.done_reason)) },
        usage: { input_tokens: promptCount(obj), output_tokens: evalCount(obj) },
      });
      out += this.event("message_stop", { type: "message_stop" });
    }
    return out;
  }
  override writeError(_message: string): string {
    // The Anthropic writer decodes {"error":…} as an empty, unfinished ChatResponse: no events.
    return this.write(this.zero());
  }
  complete(obj: Json): Response {
    const content = contentOf(obj);
    return plainJSON(200, {
      id: this.id,
      type: "message",
      role: "assistant",
      model: obj.model,
      content: content !== "" ? [{ type: "text", text: content }] : null,
      stop_reason: anthropicStopReason(str(obj.done_reason)),
      usage: { input_tokens: promptCount(obj), output_tokens: evalCount(obj) },
    }, true);
  }
  override errorHeaders(): HeadersInit | undefined {
    return this.stream ? { "cache-control": "no-cache", "connection": "keep-alive" } : undefined;
  }
  override error(status: number, message: string): Response {
    return plainJSON(
      status,
      anthropicErrorBody(this.state, status, message),
      true,
      this.errorHeaders(),
    );
  }
}

interface ResponsesEcho {
  instructions: string;
  truncation?: string;
  tools: Json[];
  textFormat?: Json;
  topP?: number;
  temperature?: number;
  effort: string;
  summary: string;
  maxOutputTokens?: number;
  background: boolean;
}

class ResponsesSurface extends CompatSurface {
  readonly streamHeaders = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "connection": "keep-alive",
  };
  private seq = 0;
  private first = true;
  private contentStarted = false;
  private text = "";
  constructor(
    stream: boolean,
    readonly responseId: string,
    readonly itemId: string,
    readonly model: string,
    readonly echo: ResponsesEcho,
  ) {
    super("chat", stream);
  }
  private event(type: string, data: Json): string {
    data.type = type;
    data.sequence_number = this.seq++;
    return `event: ${type}\ndata: ${goJson(data, true)}\n\n`;
  }
  private textFormatMap(): Json {
    const f = this.echo.textFormat;
    if (!f) return { type: "text" };
    const out: Json = { type: str(get(f, "type")) };
    if (str(get(f, "name"))) out.name = get(f, "name");
    if (get(f, "schema") !== undefined && get(f, "schema") !== null) {
      out.schema = new AsIs(get(f, "schema") as JVal);
    }
    if (typeof get(f, "strict") === "boolean") out.strict = get(f, "strict");
    return out;
  }
  private responseObject(status: string, output: unknown, usage: unknown): Json {
    const e = this.echo;
    return {
      id: this.responseId,
      object: "response",
      created_at: unixSeconds(),
      completed_at: null,
      status,
      incomplete_details: null,
      model: this.model,
      previous_response_id: null,
      instructions: e.instructions || null,
      output,
      error: null,
      tools: e.tools.map((t) => ({
        type: get(t, "type") ?? "",
        name: get(t, "name") ?? "",
        description: get(t, "description") ?? null,
        strict: get(t, "strict") ?? null,
        parameters: get(t, "parameters") ?? null,
      })),
      tool_choice: "auto",
      truncation: e.truncation ?? "disabled",
      parallel_tool_calls: true,
      text: { format: this.textFormatMap() },
      top_p: e.topP ?? 1,
      presence_penalty: 0,
      frequency_penalty: 0,
      top_logprobs: 0,
      temperature: e.temperature ?? 1,
      reasoning: e.effort || e.summary
        ? { effort: e.effort || null, summary: e.summary || null }
        : null,
      usage,
      max_output_tokens: e.maxOutputTokens ?? null,
      max_tool_calls: null,
      store: false,
      background: e.background,
      service_tier: "default",
      metadata: {},
      safety_identifier: null,
      prompt_cache_key: null,
    };
  }
  private messageItem(status: string, content: unknown[]): Json {
    return { id: this.itemId, type: "message", status, role: "assistant", content };
  }
  private part(text: string): Json {
    return { type: "output_text", text, annotations: [], logprobs: [] };
  }
  write(obj: Json): string {
    let out = "";
    if (this.first) {
      this.first = false;
      out += this.event("response.created", {
        response: this.responseObject("in_progress", [], null),
      });
      out += this.event("response.in_progress", {
        response: this.responseObject("in_progress", [], null),
      });
    }
    const content = contentOf(obj);
    if (content !== "") {
      if (!this.contentStarted) {
        this.contentStarted = true;
        out += this.event("response.output_item.added", {
          output_index: 0,
          item: this.messageItem("in_progress", []),
        });
        out += this.event("response.content_part.added", {
          item_id: this.itemId,
          output_index: 0,
          content_index: 0,
          part: this.part(""),
        });
      }
      this.text += content;
      out += this.event("response.output_text.delta", {
        item_id: this.itemId,
        output_index: 0,
        content_index: 0,
        delta: content,
        logprobs: [],
      });
    }
    if (obj.done) {
      if (this.contentStarted) {
        out += this.event("response.output_text.done", {
          item_id: this.itemId,
          output_index: 0,
          content_index: 0,
          text: this.text,
          logprobs: [],
        });
        out += this.event("response.content_part.done", {
          item_id: this.itemId,
          output_index: 0,
          content_index: 0,
          part: this.part(this.text),
        });
        out += this.event("response.output_item.done", {
          output_index: 0,
          item: this.messageItem("completed", [this.part(this.text)]),
        });
      }
      const p = promptCount(obj);
      const c = evalCount(obj);
      const response = this.responseObject(
        "completed",
        this.contentStarted ? [this.messageItem("completed", [this.part(this.text)])] : null,
        {
          input_tokens: p,
          output_tokens: c,
          total_tokens: p + c,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens_details: { reasoning_tokens: 0 },
        },
      );
      response.completed_at = unixSeconds();
      out += this.event("response.completed", { response });
    }
    return out;
  }
  complete(obj: Json): Response {
    const e = this.echo;
    const p = promptCount(obj);
    const c = evalCount(obj);
    const f = e.textFormat;
    const created = Date.parse(str(obj.created_at));
    return plainJSON(200, {
      id: this.responseId,
      object: "response",
      created_at: Number.isFinite(created) ? Math.floor(created / 1000) : unixSeconds(),
      completed_at: unixSeconds(),
      status: "completed",
      incomplete_details: null,
      model: this.model,
      previous_response_id: null,
      instructions: e.instructions || null,
      output: [{
        id: this.itemId,
        type: "message",
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: contentOf(obj), annotations: [], logprobs: [] }],
      }],
      error: null,
      tools: e.tools.map((t) => ({
        type: str(get(t, "type")),
        name: str(get(t, "name")),
        description: get(t, "description") ?? null,
        strict: get(t, "strict") ?? null,
        parameters: isObj(get(t, "parameters")) ? new GoMap(get(t, "parameters") as Json) : null,
      })),
      tool_choice: "auto",
      truncation: e.truncation ?? "disabled",
      parallel_tool_calls: true,
      text: {
        format: f
          ? {
            type: str(get(f, "type")),
            name: str(get(f, "name")) || undefined,
            schema: get(f, "schema") !== undefined && get(f, "schema") !== null
              ? new AsIs(get(f, "schema") as JVal)
              : undefined,
            strict: typeof get(f, "strict") === "boolean" ? get(f, "strict") : undefined,
          }
          : { type: "text" },
      },
      top_p: e.topP ?? 1,
      presence_penalty: 0,
      frequency_penalty: 0,
      top_logprobs: 0,
      temperature: e.temperature ?? 1,
      reasoning: e.effort || e.summary
        ? { effort: e.effort || undefined, summary: e.summary || undefined }
        : null,
      usage: {
        input_tokens: p,
        output_tokens: c,
        total_tokens: p + c,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens_details: { reasoning_tokens: 0 },
      },
      max_output_tokens: e.maxOutputTokens ?? null,
      max_tool_calls: null,
      store: false,
      background: e.background,
      service_tier: "default",
      metadata: {},
      safety_identifier: null,
      prompt_cache_key: null,
    }, true);
  }
  override writeError(_message: string): string {
    // The Responses writer decodes {"error":…} as an empty, unfinished ChatResponse: no events.
    return this.write(this.zero());
  }
  override errorHeaders(): HeadersInit | undefined {
    return this.stream ? { "cache-control": "no-cache", "connection": "keep-alive" } : undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// The generation engine shared by every chat/generate surface
// ---------------------------------------------------------------------------------------------

interface Job {
  model: string; // as the request gave it (echoed)
  display: string; // installed name
  cap: number; // the runner's num_predict; <= 0 means no cap
  load: "load" | "unload" | null;
  keepAlive: number | undefined; // seconds, -1 = forever
  raw?: boolean;
  prompt: number; // prompt_eval_count to report
}

async function runInference(ctx: Ctx, surface: Surface, job: Job): Promise<Response> {
  const b = ctx.b;
  const signal = ctx.signal;
  const m: Metrics = { start: performance.now(), firstToken: 0 };
  await ctx.wait(b.firstByteDelayMs);
  if (signal.aborted) return gone();
  if (b.failWith) {
    const phase = b.failWith.phase === "load" ? "handler" : "stream";
    return surface.error(b.failWith.status, b.failWith.error, phase);
  }
  if (job.load) {
    ctx.state.markLoaded(job.display, job.load === "unload" ? 0 : job.keepAlive);
    return surface.single(nativeLoad(surface.kind, job.model, job.load));
  }
  ctx.state.markLoaded(job.display, job.keepAlive);

  let n = Math.max(0, Math.floor(b.chunks));
  let reason = "stop";
  if (job.cap > 0 && job.cap <= n) {
    n = job.cap;
    reason = "length";
  }
  const infinite = b.hang && b.chunkDelayMs > 0;
  const stallAtEnd = b.hang && !infinite;
  const failAfter = b.failMidStreamAfter === undefined || infinite
    ? null
    : Math.min(Math.max(0, Math.floor(b.failMidStreamAfter)), n);
  m.firstToken = performance.now();

  if (!surface.stream) {
    for (let i = 1; infinite || i < n; i++) {
      await ctx.wait(b.chunkDelayMs);
      if (signal.aborted) return gone();
    }
    if (failAfter !== null) return surface.error(500, b.midStreamError, "handler");
    if (stallAtEnd) {
      await ctx.waitForever();
      return gone();
    }
    return surface.single(
      nativeFinal(
        surface.kind,
        job.model,
        mockAnswer(n),
        reason,
        b,
        n,
        m,
        job.raw ?? false,
        job.prompt,
      ),
    );
  }

  if (failAfter === 0) return surface.error(500, b.midStreamError, "stream");

  return ctx.stream(surface.streamHeaders, async (write) => {
    let sent = 0;
    for (let i = 0; infinite || i < n; i++) {
      if (i > 0) await sleep(b.chunkDelayMs, signal);
      if (signal.aborted) return;
      if (failAfter !== null && i === failAfter) break;
      write(surface.write(nativeChunk(surface.kind, job.model, mockChunkText(i))));
      sent++;
    }
    if (signal.aborted) return;
    if (failAfter !== null) {
      write(surface.writeError(b.midStreamError));
      return;
    }
    if (stallAtEnd) {
      await waitAbort(signal);
      return;
    }
    write(
      surface.write(
        nativeFinal(surface.kind, job.model, "", reason, b, sent, m, job.raw ?? false, job.prompt),
      ),
    );
  });
}

function positiveInt(v: unknown): number {
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : 0;
}

/** What scheduleRunner and the runner make of a request's options. */
interface RunnerOpts {
  options: Json;
  numCtx: number;
  numPredict: number;
}

/**
 * Options.FromMap, the runner's context (num_ctx, default 4096, at most the model's context
 * length) and boundedNumPredict (num_predict < 0 or > 10 × num_ctx becomes 10 × num_ctx).
 * A bad option is the error scheduleRunner returns (a 500 from handleScheduleError).
 */
function runnerOptions(ctx: Ctx, display: string, options: unknown): RunnerOpts | string {
  const o = optionsFromMap(isObj(options) ? options : undefined);
  if (typeof o === "string") return o;
  const requested = typeof o.num_ctx === "number" && o.num_ctx > 0
    ? o.num_ctx
    : MOCK_DEFAULT_NUM_CTX;
  const numCtx = Math.min(requested, infoFor(ctx.b, display).contextLength);
  const limit = 10 * numCtx;
  const np = typeof o.num_predict === "number" ? o.num_predict : -1;
  return { options: o, numCtx, numPredict: np < 0 || np > limit ? limit : np };
}

/** Records what the handler decoded and runs with. */
function record(
  ctx: Ctx,
  request: Json,
  model: string,
  stream: boolean,
  ro: RunnerOpts,
  keepAlive: number | undefined,
  promptTokens: number,
): void {
  ctx.rec.decoded = {
    request,
    model,
    stream,
    options: ro.options,
    numPredict: ro.numPredict,
    numCtx: ro.numCtx,
    keepAlive,
    promptTokens,
  };
}

function keepAliveOf(req: Json): number | undefined {
  const k = req.keep_alive;
  return typeof k === "number" ? k : undefined;
}

/**
 * ChatHandler from the model lookup on, for a native or converted chat request: unload
 * (no messages, keep_alive 0), options, load (no messages), then the generation.
 */
function runChat(
  ctx: Ctx,
  surface: Surface,
  request: Json,
  chat: NativeChat,
  keepAlive: number | undefined,
  check: { model: string; display: string },
): Promise<Response> | Response {
  const load = chat.messages.length > 0 ? null : keepAlive === 0 ? "unload" : "load";
  let ro = runnerOptions(ctx, check.display, chat.options);
  if (typeof ro === "string") {
    if (load !== "unload") return surface.error(500, ro, "handler");
    ro = { options: {}, numCtx: MOCK_DEFAULT_NUM_CTX, numPredict: 10 * MOCK_DEFAULT_NUM_CTX };
  }
  const rendered = load ? 0 : Math.min(chatTokens(chat.messages, chat.tools), ro.numCtx);
  record(ctx, request, check.model, surface.stream, ro, keepAlive, rendered);
  return runInference(ctx, surface, {
    model: check.model,
    display: check.display,
    cap: ro.numPredict,
    load,
    keepAlive,
    prompt: reportedPrompt(ctx.b, rendered),
  });
}

/** GenerateHandler from the model lookup on. */
function runGenerate(
  ctx: Ctx,
  surface: Surface,
  request: Json,
  gen: NativeGenerate,
  keepAlive: number | undefined,
  check: { model: string; display: string },
): Promise<Response> | Response {
  const load = gen.prompt === "" ? (keepAlive === 0 ? "unload" : "load") : null;
  let ro = runnerOptions(ctx, check.display, gen.options);
  if (typeof ro === "string") {
    if (load !== "unload") return surface.error(500, ro, "handler");
    ro = { options: {}, numCtx: MOCK_DEFAULT_NUM_CTX, numPredict: 10 * MOCK_DEFAULT_NUM_CTX };
  }
  const rendered = load ? 0 : Math.min(generateTokens(gen), ro.numCtx);
  record(ctx, request, check.model, surface.stream, ro, keepAlive, rendered);
  return runInference(ctx, surface, {
    model: check.model,
    display: check.display,
    cap: ro.numPredict,
    load,
    keepAlive,
    raw: gen.raw,
    prompt: reportedPrompt(ctx.b, rendered),
  });
}

// ---------------------------------------------------------------------------------------------
// Native inference routes
// ---------------------------------------------------------------------------------------------

function topLogprobsError(req: Json): Response | null {
  const n = typeof req.top_logprobs === "number" ? req.top_logprobs : 0;
  return n < 0 || n > 20 ? nativeError(400, "top_logprobs must be between 0 and 20") : null;
}

function apiGenerate(ctx: Ctx): Promise<Response> | Response {
  const p = parseRequest(ctx, GenerateRequest);
  if (!p.ok) return nativeError(400, p.eof ? "missing request body" : p.message);
  const req = p.value;
  const bad = topLogprobsError(req);
  if (bad) return bad;
  const model = str(req.model);
  const stream = req.stream !== false;
  const surface = new NativeSurface("generate", stream);
  const display = ctx.state.findModel(model);
  if (!display) return nativeError(404, `model '${model}' not found`);
  const keepAlive = keepAliveOf(req);
  const gen: NativeGenerate = {
    model,
    prompt: str(req.prompt),
    suffix: str(req.suffix),
    system: str(req.system),
    template: str(req.template),
    context: req.context as number[] | undefined,
    images: list(req.images).length,
    raw: req.raw === true,
    options: isObj(req.options) ? req.options : {},
  };
  const unload = gen.prompt === "" && keepAlive === 0;
  if (!unload && isEmbeddingModel(display)) {
    return nativeError(400, `${goQuote(model)} does not support generate`);
  }
  if (gen.raw && (gen.template || gen.system || list(gen.context).length > 0)) {
    return nativeError(400, "raw mode does not support template, system, or context");
  }
  return runGenerate(ctx, surface, req, gen, keepAlive, { model, display });
}

function apiChat(ctx: Ctx): Promise<Response> | Response {
  const p = parseRequest(ctx, ChatRequest);
  if (!p.ok) return nativeError(400, p.eof ? "missing request body" : p.message);
  const req = p.value;
  const bad = topLogprobsError(req);
  if (bad) return bad;
  const surface = new NativeSurface("chat", req.stream !== false);
  const check = chatModelCheck(ctx, str(req.model), surface);
  if (check instanceof Response) return check;
  const chat: NativeChat = {
    model: check.model,
    messages: list(req.messages),
    tools: list(req.tools),
    options: isObj(req.options) ? req.options : {},
  };
  return runChat(ctx, surface, req, chat, keepAliveOf(req), check);
}

/** The checks ChatHandler makes before it schedules the model. */
function chatModelCheck(
  ctx: Ctx,
  model: string,
  surface: Surface,
): Response | { model: string; display: string } {
  if (model === "") return surface.error(400, "model is required", "handler");
  if (!parseName(model)) return surface.error(400, "invalid model name", "handler");
  const display = ctx.state.findModel(model);
  if (!display) return surface.error(404, `model '${model}' not found`, "handler");
  if (isEmbeddingModel(display)) {
    return surface.error(400, `${goQuote(model)} does not support chat`, "handler");
  }
  return { model, display };
}

/** The checks GenerateHandler makes before it schedules the model. */
function generateModelCheck(
  ctx: Ctx,
  model: string,
  surface: Surface,
): Response | { model: string; display: string } {
  const display = ctx.state.findModel(model);
  if (!display) return surface.error(404, `model '${model}' not found`, "handler");
  if (isEmbeddingModel(display)) {
    return surface.error(400, `${goQuote(model)} does not support generate`, "handler");
  }
  return { model, display };
}

// ---------------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------------

/** Deterministic raw (not normalised) vector for a text. */
function rawVector(model: string, text: string, dims: number): number[] {
  let h = fnv1a(model + "\u0000" + text);
  const out: number[] = [];
  for (let i = 0; i < dims; i++) {
    h = (Math.imul(h, 1664525) + 1013904223) >>> 0;
    out.push(Math.fround(((h / 0xffffffff) * 2 - 1) * 0.5));
  }
  return out;
}

function normalise(v: number[], dims?: number): number[] {
  const cut = dims && dims > 0 && dims < v.length ? v.slice(0, dims) : v;
  const norm = Math.sqrt(cut.reduce((s, x) => s + x * x, 0)) || 1;
  return cut.map((x) => Math.fround(x / norm));
}

type EmbedOutcome = { ok: true; vectors: number[][]; metrics: Json } | { ok: false; res: Response };

/** An embedding request after decoding: what runEmbed needs. */
interface EmbedJob {
  display: string;
  model: string;
  inputs: string[];
  dims: number | undefined;
  keepAlive: number | undefined;
  options: unknown;
  truncate: boolean;
  request: Json;
}

/**
 * Shared by the three embedding routes: options, delay, failWith, hang, then the vectors. The
 * rendered count is per input min(text(input), num_ctx), summed; with truncate:false an input
 * over num_ctx is Ollama's 400.
 */
async function runEmbed(
  ctx: Ctx,
  job: EmbedJob,
  error: (status: number, message: string) => Response,
): Promise<EmbedOutcome> {
  const b = ctx.b;
  const start = performance.now();
  const ro = runnerOptions(ctx, job.display, job.options);
  if (typeof ro === "string") return { ok: false, res: error(500, ro) };
  let rendered = 0;
  for (const text of job.inputs) {
    const n = textTokens(text);
    if (n > ro.numCtx && !job.truncate) {
      return { ok: false, res: error(400, "the input length exceeds the context length") };
    }
    rendered += Math.min(n, ro.numCtx);
  }
  record(ctx, job.request, job.model, false, ro, job.keepAlive, rendered);
  await ctx.wait(b.firstByteDelayMs);
  if (ctx.signal.aborted) return { ok: false, res: gone() };
  if (b.failWith) return { ok: false, res: error(b.failWith.status, b.failWith.error) };
  if (b.hang) {
    await ctx.waitForever();
    return { ok: false, res: gone() };
  }
  ctx.state.markLoaded(job.display, job.keepAlive);
  const vectors = job.inputs.map((t) =>
    normalise(rawVector(job.model, t, b.embeddingDims), job.dims)
  );
  const total = Math.round((performance.now() - start) * 1e6) + 14_143_917;
  const prompt = reportedPrompt(b, rendered);
  return {
    ok: true,
    vectors,
    metrics: {
      total_duration: total,
      load_duration: 1_019_500,
      prompt_eval_count: b.omitPromptCount || prompt === 0 ? undefined : prompt,
    },
  };
}

function embedInputs(input: unknown): string[] | null {
  if (input === undefined || input === null) return [];
  if (typeof input === "string") return input === "" ? [] : [input];
  if (Array.isArray(input)) {
    if (!input.every((x) => typeof x === "string")) return null;
    return input as string[];
  }
  return null;
}

async function apiEmbed(ctx: Ctx): Promise<Response> {
  const p = parseRequest(ctx, EmbedRequest);
  if (!p.ok) return nativeError(400, p.eof ? "missing request body" : p.message);
  const req = p.value;
  const model = str(req.model);
  if (!parseName(model)) return nativeError(404, `model '${model}' not found`);
  const inputs = embedInputs(req.input);
  if (inputs === null) return nativeError(400, "invalid input type");
  const display = ctx.state.findModel(model);
  if (!display) return nativeError(404, `model ${goQuote(model)} not found, try pulling it first`);
  const out = await runEmbed(ctx, {
    display,
    model,
    inputs,
    dims: positiveInt(req.dimensions) || undefined,
    keepAlive: keepAliveOf(req),
    options: req.options,
    truncate: req.truncate !== false,
    request: req,
  }, nativeError);
  if (!out.ok) return out.res;
  if (inputs.length === 0) return ginJSON(200, { model, embeddings: [] });
  return ginJSON(200, {
    model,
    embeddings: out.vectors.map((v) => v.map((x) => new F32(x))),
    ...out.metrics,
  });
}

async function apiEmbeddings(ctx: Ctx): Promise<Response> {
  const p = parseRequest(ctx, EmbeddingRequest);
  if (!p.ok) return nativeError(400, p.eof ? "missing request body" : p.message);
  const req = p.value;
  const model = str(req.model);
  if (model === "") return nativeError(400, "model is required");
  const display = ctx.state.findModel(model);
  if (!display) return nativeError(404, `model ${goQuote(model)} not found, try pulling it first`);
  const prompt = str(req.prompt);
  const out = await runEmbed(ctx, {
    display,
    model,
    inputs: [],
    dims: undefined,
    keepAlive: keepAliveOf(req),
    options: req.options,
    truncate: true,
    request: req,
  }, nativeError);
  if (!out.ok) return out.res;
  // The legacy route reports no count; what it embedded is the prompt.
  if (ctx.rec.decoded) {
    ctx.rec.decoded.promptTokens = Math.min(textTokens(prompt), ctx.rec.decoded.numCtx);
  }
  if (prompt === "") return ginJSON(200, { embedding: [] });
  // float64 of the float32 values, not normalised.
  return ginJSON(200, { embedding: rawVector(model, prompt, ctx.b.embeddingDims) });
}

function float32Base64(v: number[]): string {
  const buf = new DataView(new ArrayBuffer(v.length * 4));
  v.forEach((x, i) => buf.setFloat32(i * 4, x, true));
  let bin = "";
  for (const byte of new Uint8Array(buf.buffer)) bin += String.fromCharCode(byte);
  return btoa(bin);
}

async function v1Embeddings(ctx: Ctx): Promise<Response> {
  const p = parseRequest(ctx, OpenAIEmbedRequest);
  if (!p.ok) return ginJSON(400, openaiErrorBody(400, p.message));
  const req = p.value;
  const format = str(req.encoding_format);
  if (format !== "" && !["float", "base64"].includes(format.toLowerCase())) {
    return ginJSON(
      400,
      openaiErrorBody(
        400,
        `Invalid value for 'encoding_format' = ${format}. Supported values: ['float', 'base64'].`,
      ),
    );
  }
  let input = req.input;
  if (input === "") input = [""];
  if (input === undefined || input === null || (Array.isArray(input) && input.length === 0)) {
    return ginJSON(400, openaiErrorBody(400, "invalid input"));
  }
  const err = (status: number, message: string) =>
    plainJSON(status, openaiErrorBody(status, message), true);
  const inputs = Array.isArray(input) && input.every((x) => typeof x === "string")
    ? (input as string[])
    : typeof input === "string"
    ? [input]
    : null;
  if (inputs === null) return err(400, "invalid input type");
  const model = str(req.model);
  if (!parseName(model)) return err(404, `model '${model}' not found`);
  const display = ctx.state.findModel(model);
  if (!display) return err(404, `model ${goQuote(model)} not found, try pulling it first`);
  const out = await runEmbed(ctx, {
    display,
    model,
    inputs,
    dims: positiveInt(req.dimensions) || undefined,
    keepAlive: undefined,
    options: undefined,
    truncate: true,
    request: req,
  }, err);
  if (!out.ok) return out.res;
  const tokens = typeof out.metrics.prompt_eval_count === "number"
    ? out.metrics.prompt_eval_count
    : 0;
  const base64 = format.toLowerCase() === "base64";
  return plainJSON(200, {
    object: "list",
    data: out.vectors.map((v, index) => ({
      object: "embedding",
      embedding: base64 ? float32Base64(v) : v.map((x) => new F32(x)),
      index,
    })),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  }, true);
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible inference routes
// ---------------------------------------------------------------------------------------------

function v1ChatCompletions(ctx: Ctx): Promise<Response> | Response {
  const p = parseRequest(ctx, ChatCompletionRequest);
  if (!p.ok) return ginJSON(400, openaiErrorBody(400, p.message));
  const req = p.value;
  if (list(req.messages).length === 0) {
    return ginJSON(400, openaiErrorBody(400, "[] is too short - 'messages'"));
  }
  const chat = fromChatRequest(req);
  if (typeof chat === "string") return ginJSON(400, openaiErrorBody(400, chat));
  const includeUsage = get(req.stream_options, "include_usage") === true;
  const surface = new OpenAIChatSurface(
    req.stream === true,
    includeUsage,
    `chatcmpl-${ctx.state.nextId("chatcmpl")}`,
  );
  const check = chatModelCheck(ctx, chat.model, surface);
  if (check instanceof Response) return check;
  return runChat(ctx, surface, req, chat, undefined, check);
}

function v1Completions(ctx: Ctx): Promise<Response> | Response {
  const p = parseRequest(ctx, CompletionRequest);
  if (!p.ok) return ginJSON(400, openaiErrorBody(400, p.message));
  const req = p.value;
  const gen = fromCompleteRequest(req);
  if (typeof gen === "string") return ginJSON(400, openaiErrorBody(400, gen));
  const includeUsage = get(req.stream_options, "include_usage") === true;
  const surface = new OpenAICompletionSurface(
    req.stream === true,
    includeUsage,
    `cmpl-${ctx.state.nextId("cmpl")}`,
  );
  const check = generateModelCheck(ctx, gen.model, surface);
  if (check instanceof Response) return check;
  return runGenerate(ctx, surface, req, gen, undefined, check);
}

async function v1Transcriptions(ctx: Ctx): Promise<Response> {
  // Simple answer: the multipart body is recorded raw; the text is the usual generated answer.
  await ctx.wait(ctx.b.firstByteDelayMs);
  if (ctx.signal.aborted) return gone();
  if (ctx.b.failWith) {
    return plainJSON(
      ctx.b.failWith.status,
      openaiErrorBody(ctx.b.failWith.status, ctx.b.failWith.error),
      true,
    );
  }
  return plainJSON(200, { text: mockAnswer(ctx.b.chunks) }, true);
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages
// ---------------------------------------------------------------------------------------------

function v1Messages(ctx: Ctx): Promise<Response> | Response {
  const state = ctx.state;
  const bad = (message: string) => ginJSON(400, anthropicErrorBody(state, 400, message));
  const p = parseRequest(ctx, MessagesRequest);
  if (!p.ok) return bad(p.message);
  const req = p.value;
  const model = str(req.model);
  if (model === "") return bad("model is required");
  if (typeof req.max_tokens !== "number" || req.max_tokens <= 0) {
    return bad("max_tokens is required and must be positive");
  }
  if (list(req.messages).length === 0) return bad("messages is required");
  const chat = fromMessagesRequest(req);
  if (typeof chat === "string") return bad(chat);
  const id = "msg_" + state.nextId("anthropic").toString(16).padStart(24, "0");
  const surface = new AnthropicSurface(
    req.stream === true,
    state,
    id,
    model,
    anthropicEstimate(req),
  );
  const check = chatModelCheck(ctx, model, surface);
  if (check instanceof Response) return check;
  return runChat(ctx, surface, req, chat, undefined, check);
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses
// ---------------------------------------------------------------------------------------------

function v1Responses(ctx: Ctx): Promise<Response> | Response {
  const bad = (message: string) => ginJSON(400, openaiErrorBody(400, message));
  const p = parseRequest(ctx, ResponsesRequest);
  if (!p.ok) return bad(p.message);
  const req = p.value;
  const chat = fromResponsesRequest(req);
  if (typeof chat === "string") return bad(chat);
  const reasoning = req.reasoning;
  const model = str(req.model);
  const format = get(req.text, "format");
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  const surface = new ResponsesSurface(
    req.stream === true,
    `resp_${ctx.state.nextId("resp")}`,
    `msg_${ctx.state.nextId("respitem")}`,
    model,
    {
      instructions: str(req.instructions),
      truncation: typeof req.truncation === "string" ? req.truncation : undefined,
      tools: list(req.tools),
      textFormat: isObj(format) ? format : undefined,
      topP: num(req.top_p),
      temperature: num(req.temperature),
      effort: str(get(reasoning, "effort")),
      summary: str(get(reasoning, "summary")),
      maxOutputTokens: num(req.max_output_tokens),
      background: req.background === true,
    },
  );
  const check = chatModelCheck(ctx, model, surface);
  if (check instanceof Response) return check;
  return runChat(ctx, surface, req, chat, undefined, check);
}
