/**
 * Token usage of finished requests: Ollama's own counts, estimated only where it gives none.
 * @module
 */
import type { StreamUsage } from "./stream_meter.ts";

/** Final token counts of a request. */
export interface Tokens {
  prompt: number;
  completion: number;
  estimated: boolean;
}

/**
 * Reads the usage fields of a non-streamed answer: native counts, OpenAI `usage.prompt_tokens`,
 * or `usage.input_tokens` / `output_tokens` (Anthropic Messages, OpenAI Responses).
 */
export function usageOfBody(body: unknown): StreamUsage {
  const o = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  const num = (v: unknown) => typeof v === "number" ? v : null;
  if (o.usage && typeof o.usage === "object") {
    const u = o.usage as Record<string, unknown>;
    if ("input_tokens" in u || "output_tokens" in u) {
      return { promptTokens: num(u.input_tokens), completionTokens: num(u.output_tokens) };
    }
    return {
      promptTokens: num(u.prompt_tokens),
      completionTokens: num(u.completion_tokens) ?? (num(u.prompt_tokens) === null ? null : 0),
    };
  }
  return { promptTokens: num(o.prompt_eval_count), completionTokens: num(o.eval_count) };
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
  return {
    prompt: prompt ?? estimatePrompt(),
    completion: completion ?? estimateCompletion(),
    estimated: prompt === null || completion === null,
  };
}
