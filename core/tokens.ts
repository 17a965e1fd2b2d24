/**
 * Token estimates with js-tiktoken, used only where Ollama reports no count.
 * @module
 */
import { getEncoding, type Tiktoken } from "js-tiktoken";

let encoding: Tiktoken | null = null;

/** Estimated token count of a text (cl100k_base; close to, not equal to, a Llama tokenizer). */
export function estimateTokens(text: string): number {
  if (text.length === 0) return 0;
  encoding ??= getEncoding("cl100k_base");
  return encoding.encode(text).length;
}

/** Collects the text a request sends to the model: prompts, messages, inputs. */
export function promptText(body: Record<string, unknown>): string {
  const parts: string[] = [];
  const push = (v: unknown) => {
    if (typeof v === "string") parts.push(v);
    else if (Array.isArray(v)) v.forEach(push);
    else if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      // Content parts ({type:"text", text}, Responses' input_text) and messages ({role, content}).
      if (typeof o.text === "string") parts.push(o.text);
      if ("content" in o) push(o.content);
    }
  };
  push(body.system);
  push(body.instructions); // OpenAI Responses' system prompt
  push(body.prompt);
  push(body.suffix);
  push(body.messages);
  push(body.input);
  return parts.join("\n");
}

/** Estimated prompt tokens of a request body, with a small per-message overhead for chat. */
export function estimatePromptTokens(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  return estimateTokens(promptText(body)) + messages * 4;
}
