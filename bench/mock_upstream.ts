/**
 * A fast mock Ollama for the benchmark: `/api/chat` (JSON or NDJSON) and `/v1/chat/completions`
 * (JSON or SSE), usage in the final line or event. The model name sets the stream's shape:
 * `bench-c<chunks>-d<delayMs>` (default 50 chunks, no delay). Chunk `i` carries the text `t<i>`,
 * so a client can check count and order. Run as its own process: `deno run -A mock_upstream.ts`
 * with `PORT` (0 = any); it prints `mock listening on http://127.0.0.1:<port>`.
 * @module
 */

/** The stream shape a model name asks for. */
export interface StreamShape {
  chunks: number;
  delayMs: number;
}

/** Parses `bench-c<chunks>-d<delayMs>`; anything else is 50 chunks without delay. */
export function shapeOf(model: unknown): StreamShape {
  const m = typeof model === "string" ? /^bench-c(\d+)-d(\d+)/.exec(model) : null;
  return m ? { chunks: Number(m[1]), delayMs: Number(m[2]) } : { chunks: 50, delayMs: 0 };
}

/** Prompt tokens the mock reports for every request. */
export const PROMPT_TOKENS = 7;

const enc = new TextEncoder();
const CREATED = "2026-01-01T00:00:00Z";

function ndjsonChunk(model: string, i: number): Uint8Array {
  return enc.encode(
    `{"model":"${model}","created_at":"${CREATED}","message":{"role":"assistant","content":"t${i}"},"done":false}\n`,
  );
}

function ndjsonFinal(model: string, n: number): Uint8Array {
  return enc.encode(
    `{"model":"${model}","created_at":"${CREATED}","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":1,"load_duration":1,"prompt_eval_count":${PROMPT_TOKENS},"prompt_eval_duration":1,"eval_count":${n},"eval_duration":1}\n`,
  );
}

function sseChunk(model: string, i: number): Uint8Array {
  return enc.encode(
    `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"${model}","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"t${i}"},"finish_reason":null}]}\n\n`,
  );
}

function sseFinal(model: string, n: number, usage: boolean): Uint8Array {
  const stop =
    `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"${model}","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]}\n\n`;
  const usageEvent = usage
    ? `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"${model}","system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":${PROMPT_TOKENS},"completion_tokens":${n},"total_tokens":${
      PROMPT_TOKENS + n
    }}}\n\n`
    : "";
  return enc.encode(stop + usageEvent + "data: [DONE]\n\n");
}

function text(n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += `t${i}`;
  return s;
}

function jsonAnswer(path: string, model: string, n: number): string {
  if (path === "/api/chat") {
    return `{"model":"${model}","created_at":"${CREATED}","message":{"role":"assistant","content":"${
      text(n)
    }"},"done_reason":"stop","done":true,"total_duration":1,"load_duration":1,"prompt_eval_count":${PROMPT_TOKENS},"prompt_eval_duration":1,"eval_count":${n},"eval_duration":1}`;
  }
  return `{"id":"chatcmpl-1","object":"chat.completion","created":1767225600,"model":"${model}","system_fingerprint":"fp_ollama","choices":[{"index":0,"message":{"role":"assistant","content":"${
    text(n)
  }"},"finish_reason":"stop"}],"usage":{"prompt_tokens":${PROMPT_TOKENS},"completion_tokens":${n},"total_tokens":${
    PROMPT_TOKENS + n
  }}}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counters the orchestrator reads at `GET /_stats`. */
const stats = { requests: 0, completed: 0, aborted: 0 };

function streamAnswer(
  path: string,
  model: string,
  shape: StreamShape,
  usage: boolean,
  signal: AbortSignal,
): Response {
  const native = path === "/api/chat";
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i > 0 && shape.delayMs > 0) await sleep(shape.delayMs);
      if (signal.aborted) return;
      if (i < shape.chunks) {
        controller.enqueue(native ? ndjsonChunk(model, i) : sseChunk(model, i));
        i++;
        return;
      }
      controller.enqueue(
        native ? ndjsonFinal(model, shape.chunks) : sseFinal(model, shape.chunks, usage),
      );
      controller.close();
      stats.completed++;
    },
    cancel() {
      stats.aborted++;
    },
  });
  const type = native ? "application/x-ndjson" : "text/event-stream";
  return new Response(body, { headers: { "content-type": type } });
}

/** Answers one request the way Ollama would, quickly. */
export async function handle(req: Request): Promise<Response> {
  const path = new URL(req.url).pathname;
  if (req.method === "GET") {
    if (path === "/_stats") return Response.json(stats);
    if (path === "/api/version") return Response.json({ version: "0.33.0" });
    if (path === "/api/tags") return Response.json({ models: [] });
    return new Response("Ollama is running");
  }
  if (path !== "/api/chat" && path !== "/v1/chat/completions") {
    return Response.json({ error: "not found" }, { status: 404 });
  }
  stats.requests++;
  // deno-lint-ignore no-explicit-any
  const body: any = await req.json();
  const model = String(body.model ?? "bench");
  const shape = shapeOf(model);
  const stream = path === "/api/chat" ? body.stream !== false : body.stream === true;
  if (stream) {
    return streamAnswer(
      path,
      model,
      shape,
      body.stream_options?.include_usage === true,
      req.signal,
    );
  }
  stats.completed++;
  return new Response(jsonAnswer(path, model, shape.chunks), {
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

if (import.meta.main) {
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(Deno.env.get("PORT") ?? 0),
    onListen: (a) => console.log(`mock listening on http://127.0.0.1:${a.port}`),
  }, handle);
}
