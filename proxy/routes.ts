/**
 * The proxy's route table: which paths are inference (counted), read-only, or refused.
 * @module
 */

/** How an inference route's body is read and rewritten. */
export interface InferenceRoute {
  path: string;
  /** Native routes stream unless `stream:false`; OpenAI routes only with `stream:true`. */
  streamsByDefault: boolean;
  /** Whether it generates tokens (and so takes a generation cap). */
  generates: boolean;
  /** Whether streamed usage must be requested with `stream_options.include_usage`. */
  usageOption: boolean;
  /** The stream format: NDJSON, OpenAI `data:` SSE, or SSE with named `event:` lines. */
  format: "ndjson" | "sse" | "events" | null;
  /** Where the client's generation limit lives: `options.num_predict`, or a top-level field. */
  maxField: "num_predict" | "max_tokens" | "max_output_tokens" | null;
}

const native = (path: string, generates: boolean): InferenceRoute => ({
  path,
  streamsByDefault: generates,
  generates,
  usageOption: false,
  format: generates ? "ndjson" : null,
  maxField: generates ? "num_predict" : null,
});

const openai = (path: string, generates: boolean): InferenceRoute => ({
  path,
  streamsByDefault: false,
  generates,
  usageOption: generates,
  format: generates ? "sse" : null,
  maxField: generates ? "max_tokens" : null,
});

// Anthropic Messages and OpenAI Responses: they stream named events, and report usage in their
// final events without being asked, so nothing is ever stripped.
const namedEvents = (
  path: string,
  maxField: "max_tokens" | "max_output_tokens",
): InferenceRoute => ({
  path,
  streamsByDefault: false,
  generates: true,
  usageOption: false,
  format: "events",
  maxField,
});

/** Inference routes, counted against quotas (POST). */
export const INFERENCE_ROUTES: ReadonlyArray<InferenceRoute> = [
  native("/api/chat", true),
  native("/api/generate", true),
  native("/api/embed", false),
  native("/api/embeddings", false),
  openai("/v1/chat/completions", true),
  openai("/v1/completions", true),
  openai("/v1/embeddings", false),
  namedEvents("/v1/messages", "max_tokens"),
  namedEvents("/v1/responses", "max_output_tokens"),
];

/** Read-only routes: a key is needed, no quota is used. Value: the upstream path. */
export const READ_ONLY_ROUTES: ReadonlyArray<{ method: string; path: string; upstream: string }> = [
  { method: "GET", path: "/api/tags", upstream: "/api/tags" },
  { method: "GET", path: "/api/version", upstream: "/api/version" },
  // The seed project spelled it this way; keep old clients working.
  { method: "GET", path: "/api/versions", upstream: "/api/version" },
  { method: "GET", path: "/api/ps", upstream: "/api/ps" },
  { method: "POST", path: "/api/show", upstream: "/api/show" },
  { method: "GET", path: "/v1/models", upstream: "/v1/models" },
  { method: "GET", path: "/v1/models/:model", upstream: "/v1/models/:model" },
];

/** Model management: refused for every key. */
export const MANAGEMENT_PATHS: ReadonlyArray<string> = [
  "/api/pull",
  "/api/push",
  "/api/create",
  "/api/copy",
  "/api/delete",
  "/api/blobs/*",
];
