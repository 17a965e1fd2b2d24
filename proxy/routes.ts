/**
 * The proxy's route table. Each inference route is one entry that owns everything the request
 * path needs to know about it: the Go struct Ollama decodes its body into, the fields the
 * gateway validates, its client family (error shape), whether it streams by default, where the
 * generation limit lives, how streamed usage is asked for and which meter reads its stream.
 * Read-only routes pass through without quota; model management is refused.
 * @module
 */
import { z } from "zod";
import type { GoShape } from "../core/go_json.ts";
import { hasControlCharacters } from "../core/text.ts";
import type { RouteFamily } from "./errors.ts";
import * as shapes from "./ollama_shapes.ts";

type Body = Record<string, unknown>;

/** Where a route's generation limit lives: read the client's, write the gateway's cap. */
export interface GenerationField {
  /** The field as named in messages (`options.num_predict`, `max_tokens`). */
  name: string;
  /** The client's own limit when it set a positive one. */
  read(body: Body): number | null;
  /** Writes the cap where Ollama reads it. */
  write(body: Body, cap: number): void;
}

/** One inference route: counted against quotas (POST). */
export interface InferenceRoute {
  path: string;
  family: RouteFamily;
  /** The Go struct Ollama decodes the body into (core/go_json.ts canonicalises with it). */
  shape: GoShape;
  /** The fields the gateway reads, checked on the canonical body. */
  schema: z.ZodType<Body>;
  /** Native routes stream unless `stream:false`; the others only with `stream:true`. */
  streamsByDefault: boolean;
  /** Whether it generates tokens (and so takes a generation cap). */
  generates: boolean;
  /** Native `/api/*`: `keep_alive` and `options` reach the runner (the server guards apply). */
  native: boolean;
  generation: GenerationField | null;
  /** Whether streamed usage must be requested with `stream_options.include_usage`. */
  usageOption: boolean;
  /** The stream format: NDJSON, OpenAI `data:` SSE, or SSE with named `event:` lines. */
  format: "ndjson" | "sse" | "events" | null;
}

// Whole numbers only, and only as large as JSON numbers stay exact (1e308 or 1e20 are refused).
const SAFE = Number.MAX_SAFE_INTEGER;
const wholeNumber = (min: number) => {
  const message = `must be a whole number from ${min} to ${SAFE}`;
  return z.number({ error: (i) => i.input === undefined ? "is required" : message }).int(message)
    .min(min, message);
};
/** Ollama's own name limits: host 350, namespace, model and tag 80 each, with separators. */
const MAX_MODEL_NAME = 600;
const model = z.string().max(MAX_MODEL_NAME, `must be at most ${MAX_MODEL_NAME} characters`)
  .refine((m) => !hasControlCharacters(m), "must not contain control characters").nullish();
const stream = z.boolean().nullish();
const maxTokens = wholeNumber(0).nullish();
const options = z.looseObject({
  num_predict: wholeNumber(-SAFE).nullish(),
  num_ctx: wholeNumber(0).nullish(),
}).nullish();
const streamOptions = z.looseObject({ include_usage: z.boolean().nullish() }).nullish();
const message = z.looseObject({ role: z.string() });
const stringOrList = z.union([z.string(), z.array(z.string())]);

const positive = (v: unknown): number | null => typeof v === "number" && v > 0 ? v : null;

const numPredict: GenerationField = {
  name: "options.num_predict",
  read: (b) => positive((b.options as Body | null | undefined)?.num_predict),
  write: (b, cap) => {
    b.options = { ...(b.options as Body | null | undefined ?? {}), num_predict: cap };
  },
};

const topLevel = (name: string, alsoRead: string[] = []): GenerationField => ({
  name,
  read: (b) => {
    const values = [name, ...alsoRead].map((f) => positive(b[f])).filter((v) => v !== null);
    return values.length ? Math.min(...values) : null;
  },
  write: (b, cap) => {
    b[name] = cap;
  },
});

const native = (
  path: string,
  shape: GoShape,
  schema: z.ZodType<Body>,
  generates: boolean,
): InferenceRoute => ({
  path,
  family: "ollama",
  shape,
  schema,
  streamsByDefault: generates,
  generates,
  native: true,
  generation: generates ? numPredict : null,
  usageOption: false,
  format: generates ? "ndjson" : null,
});

const openai = (
  path: string,
  shape: GoShape,
  schema: z.ZodType<Body>,
  generates: boolean,
): InferenceRoute => ({
  path,
  family: "openai",
  shape,
  schema,
  streamsByDefault: false,
  generates,
  native: false,
  // Ollama reads `max_tokens` only; a client's `max_completion_tokens` still lowers the cap.
  generation: generates ? topLevel("max_tokens", ["max_completion_tokens"]) : null,
  usageOption: generates,
  format: generates ? "sse" : null,
});

/** Inference routes, counted against quotas (POST). */
export const INFERENCE_ROUTES: ReadonlyArray<InferenceRoute> = [
  native(
    "/api/chat",
    shapes.CHAT_REQUEST,
    z.looseObject({ model, stream, options, messages: z.array(message).nullish() }),
    true,
  ),
  native(
    "/api/generate",
    shapes.GENERATE_REQUEST,
    z.looseObject({
      model,
      stream,
      options,
      prompt: z.string().nullish(),
      system: z.string().nullish(),
      template: z.string().nullish(),
    }),
    true,
  ),
  native(
    "/api/embed",
    shapes.EMBED_REQUEST,
    z.looseObject({ model, options, input: stringOrList.nullish() }),
    false,
  ),
  native(
    "/api/embeddings",
    shapes.EMBEDDING_REQUEST,
    z.looseObject({ model, options, prompt: z.string().nullish() }),
    false,
  ),
  openai(
    "/v1/chat/completions",
    shapes.CHAT_COMPLETION_REQUEST,
    z.looseObject({
      model,
      stream,
      stream_options: streamOptions,
      max_tokens: maxTokens,
      max_completion_tokens: maxTokens,
      messages: z.array(message),
    }),
    true,
  ),
  openai(
    "/v1/completions",
    shapes.COMPLETION_REQUEST,
    z.looseObject({
      model,
      stream,
      stream_options: streamOptions,
      max_tokens: maxTokens,
      prompt: z.string(),
    }),
    true,
  ),
  openai(
    "/v1/embeddings",
    shapes.OPENAI_EMBED_REQUEST,
    z.looseObject({ model, input: stringOrList }),
    false,
  ),
  // Anthropic Messages and OpenAI Responses stream named events and report usage in their
  // final events without being asked, so nothing is ever stripped.
  {
    path: "/v1/messages",
    family: "anthropic",
    shape: shapes.MESSAGES_REQUEST,
    // max_tokens is required there, as it is by Ollama's compat layer.
    schema: z.looseObject({
      model,
      stream,
      max_tokens: wholeNumber(1),
      messages: z.array(message),
    }),
    streamsByDefault: false,
    generates: true,
    native: false,
    generation: topLevel("max_tokens"),
    usageOption: false,
    format: "events",
  },
  {
    path: "/v1/responses",
    family: "openai",
    shape: shapes.RESPONSES_REQUEST,
    schema: z.looseObject({
      model,
      stream,
      max_output_tokens: maxTokens,
      instructions: z.string().nullish(),
      input: z.union([z.string(), z.array(z.looseObject({}))]).nullish(),
    }),
    streamsByDefault: false,
    generates: true,
    native: false,
    generation: topLevel("max_output_tokens"),
    usageOption: false,
    format: "events",
  },
];

const BY_PATH = new Map(INFERENCE_ROUTES.map((r) => [r.path, r]));

/** The client family of a request path: its route's, else by prefix. */
export function familyOf(path: string): RouteFamily {
  const route = BY_PATH.get(path);
  if (route) return route.family;
  if (path === "/v1/messages" || path.startsWith("/v1/messages/")) return "anthropic";
  if (path.startsWith("/v1/")) return "openai";
  return "ollama";
}

/** A read-only route: a key is needed, no quota is used. */
export interface ReadOnlyRoute {
  method: string;
  path: string;
  /** The upstream path (`:model` filled in from the request's path). */
  upstream: string;
  /** A model list, filtered to the key's models: where its entries are and what names them. */
  listing?: { entries: "models" | "data"; name: "name" | "id" };
  /** Where the one model it is about is named: the path, or the JSON body (/api/show). */
  model?: "path" | "body";
}

/** Read-only routes: a key is needed, no quota is used. */
export const READ_ONLY_ROUTES: ReadonlyArray<ReadOnlyRoute> = [
  {
    method: "GET",
    path: "/api/tags",
    upstream: "/api/tags",
    listing: { entries: "models", name: "name" },
  },
  { method: "GET", path: "/api/version", upstream: "/api/version" },
  // The seed project spelled it this way; keep old clients working.
  { method: "GET", path: "/api/versions", upstream: "/api/version" },
  {
    method: "GET",
    path: "/api/ps",
    upstream: "/api/ps",
    listing: { entries: "models", name: "name" },
  },
  { method: "POST", path: "/api/show", upstream: "/api/show", model: "body" },
  {
    method: "GET",
    path: "/v1/models",
    upstream: "/v1/models",
    listing: { entries: "data", name: "id" },
  },
  { method: "GET", path: "/v1/models/:model", upstream: "/v1/models/:model", model: "path" },
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
