/**
 * Token usage of finished requests: Ollama's own counts, estimated only where it gives none
 * or gives one that cannot be a count.
 * @module
 */
import type { OllamaTimings } from "../core/settlement.ts";

/** Token counts Ollama reported (in a body or a stream); null where there is no usable one. */
export interface StreamUsage {
  promptTokens: number | null;
  completionTokens: number | null;
  /** Ollama's timings from a native final body or line (load, prompt eval, eval in ms). */
  timings?: OllamaTimings | null;
  /** Fields that held something other than a token count; present only when there are any. */
  invalid?: string[];
}

/** Final token counts of a request. */
export interface Tokens {
  prompt: number;
  completion: number;
  estimated: boolean;
  /** Reported fields that were not token counts (and so were estimated): worth a warning. */
  invalid?: string[];
}

/** Field names of the two counts, in the order `reportedUsage` takes them. */
export type CountFields = readonly [prompt: string, completion: string];

/** Native routes' fields. */
export const NATIVE_COUNTS: CountFields = ["prompt_eval_count", "eval_count"];
/** OpenAI chat and completions `usage` fields. */
export const OPENAI_COUNTS: CountFields = ["prompt_tokens", "completion_tokens"];
/** Anthropic Messages and OpenAI Responses `usage` fields. */
export const IO_COUNTS: CountFields = ["input_tokens", "output_tokens"];

/**
 * The one rule for a reported token count: a non-negative safe integer. Anything else (negative,
 * fractional, `1e308`, a string) would credit a key, block it, or store a fraction.
 */
export function isTokenCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * Usage from two reported values. An absent value (`undefined` or `null`) is missing; a present
 * one that is not a token count is missing too, so it gets estimated, and is named in `invalid`.
 */
export function reportedUsage(
  prompt: unknown,
  completion: unknown,
  fields: CountFields,
): StreamUsage {
  const usage: StreamUsage = {
    promptTokens: isTokenCount(prompt) ? prompt : null,
    completionTokens: isTokenCount(completion) ? completion : null,
  };
  if (usage.promptTokens === null && prompt != null) (usage.invalid ??= []).push(fields[0]);
  if (usage.completionTokens === null && completion != null) {
    (usage.invalid ??= []).push(fields[1]);
  }
  return usage;
}

/**
 * Reads the usage fields of a non-streamed answer: native counts, OpenAI `usage.prompt_tokens`,
 * or `usage.input_tokens` / `output_tokens` (Anthropic Messages, OpenAI Responses).
 */
export function usageOfBody(body: unknown): StreamUsage {
  const o = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  if (o.usage && typeof o.usage === "object") {
    const u = o.usage as Record<string, unknown>;
    if ("input_tokens" in u || "output_tokens" in u) {
      return reportedUsage(u.input_tokens, u.output_tokens, IO_COUNTS);
    }
    const usage = reportedUsage(u.prompt_tokens, u.completion_tokens, OPENAI_COUNTS);
    // OpenAI embeddings report no completion: none was generated.
    if (u.completion_tokens == null && usage.promptTokens !== null) usage.completionTokens = 0;
    return usage;
  }
  return withTimings(reportedUsage(o.prompt_eval_count, o.eval_count, NATIVE_COUNTS), o);
}

/** Usage with the timings of a native final body or line, when it reported any. */
export function withTimings(usage: StreamUsage, final: Record<string, unknown>): StreamUsage {
  const timings = timingsOf(final);
  return timings ? { ...usage, timings } : usage;
}

/** A duration Ollama reported in ns, in whole ms; null unless it is a non-negative count. */
function msOf(ns: unknown): number | null {
  return Number.isSafeInteger(ns) && (ns as number) >= 0 ? Math.round((ns as number) / 1e6) : null;
}

/**
 * Ollama's `load_duration`, `prompt_eval_duration` and `eval_duration` (ns) of a native final
 * body or line, in ms; null when it reported none of them.
 */
export function timingsOf(final: Record<string, unknown>): OllamaTimings | null {
  const t = {
    loadMs: msOf(final.load_duration),
    promptEvalMs: msOf(final.prompt_eval_duration),
    evalMs: msOf(final.eval_duration),
  };
  return t.loadMs === null && t.promptEvalMs === null && t.evalMs === null ? null : t;
}

/** The generated text of a non-streamed answer, for estimating a missing completion count. */
export function completionTextOf(body: unknown): string {
  const o = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  if (typeof o.response === "string") return o.response;
  const message = o.message as Record<string, unknown> | undefined;
  if (message) {
    return [message.thinking, message.content].filter((s) => typeof s === "string").join("");
  }
  // Anthropic `content` blocks and Responses `output` items hold their text in `text` fields.
  if (Array.isArray(o.content)) return textFields(o.content);
  if (Array.isArray(o.output)) return textFields(o.output);
  if (Array.isArray(o.choices)) {
    return o.choices.map((c) => {
      const choice = c as Record<string, Record<string, unknown> | string | undefined>;
      const msg = choice.message as Record<string, unknown> | undefined;
      return typeof choice.text === "string" ? choice.text : String(msg?.content ?? "");
    }).join("");
  }
  return "";
}

/** Joins every `text` / `thinking` string found in a tree of content blocks. */
function textFields(value: unknown): string {
  if (Array.isArray(value)) return value.map(textFields).join("");
  if (!value || typeof value !== "object") return "";
  const o = value as Record<string, unknown>;
  const own = [o.thinking, o.text].filter((s) => typeof s === "string").join("");
  return own + textFields(o.content) + textFields(o.summary);
}

/** Combines reported counts with estimates for whatever is missing. */
export function settleTokens(
  reported: StreamUsage | null,
  estimatePrompt: () => number,
  estimateCompletion: () => number,
): Tokens {
  const prompt = reported?.promptTokens ?? null;
  const completion = reported?.completionTokens ?? null;
  const tokens: Tokens = {
    prompt: prompt ?? estimatePrompt(),
    completion: completion ?? estimateCompletion(),
    estimated: prompt === null || completion === null,
  };
  if (reported?.invalid) tokens.invalid = reported.invalid;
  return tokens;
}
