/**
 * How many tokens the mock's Ollama evaluates for a prompt (behaviour `promptTokens:
 * "rendered"`): a deterministic stand-in for the tokenizer over everything Ollama renders.
 *
 * The rule, so tests can compute expected values:
 * - `text(s)` = ceil(UTF-8 bytes of s / 4);
 * - chat (native /api/chat, and /v1/chat/completions, /v1/messages, /v1/responses after their
 *   conversion to a native chat request): per message {@link MOCK_MESSAGE_TOKENS} +
 *   text(content) + text(thinking) + text(JSON of each tool call's function, i.e.
 *   `{"index":…,"name":…,"arguments":{…}}` as Go writes it) + {@link MOCK_IMAGE_TOKENS} per
 *   image; plus text(JSON of the whole `tools` array as Go writes api.Tool values) when there
 *   are tools;
 * - generate (/api/generate, /v1/completions): the `context` ids (one token each) + with
 *   `raw`: text(prompt); with `suffix`: text(prompt) + text(suffix); otherwise
 *   MOCK_MESSAGE_TOKENS + text(system) when there is a system, + MOCK_MESSAGE_TOKENS +
 *   text(prompt); + text(template) for a template override; + MOCK_IMAGE_TOKENS per image;
 * - the result is clipped to the runner's context: min(count, num_ctx) with num_ctx from
 *   `options.num_ctx` on the native routes (default {@link MOCK_DEFAULT_NUM_CTX}; the /v1
 *   routes cannot set it), itself at most the model's context length (131072 for chat models,
 *   512 for embedding models). Ollama truncates a little below num_ctx; the mock's count is the
 *   upper bound;
 * - embeddings (/api/embed, /v1/embeddings): the sum over inputs of min(text(input), num_ctx);
 *   with `truncate:false` an input over num_ctx is a 400, as in Ollama.
 *
 * JSON "as Go writes it" escapes <, > and & as \u003c, \u003e, \u0026 (six bytes each), as
 * Ollama's templates do when they render tools.
 * @module
 */
import { encodeGo, T } from "./go_json.ts";
import { Tool, ToolCallFunction } from "./requests.ts";

/** Tokens an image costs (vision models see each image as a fixed number of embeddings). */
export const MOCK_IMAGE_TOKENS = 256;

/** Tokens a chat message costs besides its text (the template's role header and end marker). */
export const MOCK_MESSAGE_TOKENS = 4;

/** The runner's context when the request sets no num_ctx. */
export const MOCK_DEFAULT_NUM_CTX = 4096;

const enc = new TextEncoder();

/** ceil(UTF-8 bytes / 4). */
export function textTokens(s: string): number {
  return Math.ceil(enc.encode(s).length / 4);
}

type Json = Record<string, unknown>;

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Tokens of a native chat request's messages and tools (before the num_ctx clip). */
export function chatTokens(messages: Json[], tools: Json[]): number {
  let n = 0;
  for (const m of messages) {
    n += MOCK_MESSAGE_TOKENS + textTokens(str(m.content)) + textTokens(str(m.thinking));
    for (const tc of list(m.tool_calls)) {
      const fn = (tc as Json).function;
      n += textTokens(encodeGo(ToolCallFunction, fn));
    }
    n += MOCK_IMAGE_TOKENS * list(m.images).length;
  }
  if (tools.length > 0) n += textTokens(encodeGo(T.slice(Tool), tools));
  return n;
}

/** The generate fields that reach the prompt. */
export interface GenerateParts {
  prompt: string;
  suffix: string;
  system: string;
  template: string;
  context: number[] | undefined;
  images: number;
  raw: boolean;
}

/** Tokens of a native generate request (before the num_ctx clip). */
export function generateTokens(g: GenerateParts): number {
  let n = (g.context ?? []).length + MOCK_IMAGE_TOKENS * g.images;
  if (g.raw) return n + textTokens(g.prompt);
  if (g.suffix !== "") n += textTokens(g.prompt) + textTokens(g.suffix);
  else {
    if (g.system !== "") n += MOCK_MESSAGE_TOKENS + textTokens(g.system);
    n += MOCK_MESSAGE_TOKENS + textTokens(g.prompt);
  }
  if (g.template !== "") n += textTokens(g.template);
  return n;
}
