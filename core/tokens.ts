/**
 * Token estimates with js-tiktoken, used only where Ollama reports no count.
 * @module
 */
import { getEncoding, type Tiktoken } from "js-tiktoken";

let encoding: Tiktoken | null = null;

/** ASCII characters of a text that are tokenised; the count of the rest is extrapolated. */
const EXACT_CHARS = 8192;
/** Longest run of non-space (or of space) characters given to the tokenizer in one piece. */
const MAX_PIECE = 24;

const LONG_PIECE = new RegExp(`(\\S{${MAX_PIECE}}|\\s{${MAX_PIECE}})`);

/** UTF-8 size of a string, without encoding it. */
function utf8Bytes(text: string): number {
  let bytes = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/**
 * Estimated token count of a text (cl100k_base; close to, not equal to, a Llama tokenizer), in
 * time linear in its length. js-tiktoken's byte-pair merge grows with the square of a piece's
 * length and is slow on non-ASCII bytes: 4,000 Chinese characters took 98 s, 1,000 "a" 0.7 s,
 * 8,000 spaces 50 s, and the event loop, so every request, waited. Hence only ASCII is tokenised,
 * in runs of (non-)space characters of at most MAX_PIECE, and only its first EXACT_CHARS; later
 * ASCII counts at the rate measured on those; other text counts one token per two UTF-8 bytes,
 * at or above cl100k's count for accented, Cyrillic and CJK text and emoji.
 */
export function estimateTokens(text: string): number {
  if (text.length === 0) return 0;
  encoding ??= getEncoding("cl100k_base");
  let tokens = 0;
  let exactChars = 0;
  let exactTokens = 0;
  let laterChars = 0;
  for (const run of text.match(/[\0-\x7f]+|[^\0-\x7f]+/g) ?? []) {
    if (run.charCodeAt(0) > 0x7f) {
      tokens += Math.ceil(utf8Bytes(run) / 2);
      continue;
    }
    const exact = run.slice(0, Math.max(0, EXACT_CHARS - exactChars));
    laterChars += run.length - exact.length;
    if (exact === "") continue;
    exactChars += exact.length;
    for (const piece of exact.split(LONG_PIECE)) {
      if (piece !== "") exactTokens += encoding.encode(piece).length;
    }
  }
  return tokens + exactTokens + Math.ceil(laterChars * exactTokens / Math.max(1, exactChars));
}

/** How deep in a body text is looked for. */
const MAX_DEPTH = 32;

/** Collects the text a request sends to the model: prompts, messages, inputs. */
export function promptText(body: Record<string, unknown>): string {
  const parts: string[] = [];
  // Real bodies nest a few levels; a body nested thousands deep would overflow the stack.
  const push = (v: unknown, depth = 0) => {
    if (depth > MAX_DEPTH) return;
    if (typeof v === "string") parts.push(v);
    else if (Array.isArray(v)) v.forEach((item) => push(item, depth + 1));
    else if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      // Content parts ({type:"text", text}, Responses' input_text) and messages ({role, content}).
      if (typeof o.text === "string") parts.push(o.text);
      if ("content" in o) push(o.content, depth + 1);
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

/**
 * A bound that `estimatePromptTokens` never exceeds, without a tokenizer: one token per UTF-8
 * byte (the estimate counts at most one per ASCII character and one per two bytes of the rest).
 * Cheap enough for every request; the tokenizer (and its ~120 MB of ranks) is then needed only
 * for keys close to a token limit and for answers without counts.
 */
export function promptTokensBound(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  return utf8Length(promptText(body)) + messages * 4;
}

/** UTF-8 size of a string (a lone surrogate counts 3 bytes, as TextEncoder writes U+FFFD). */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A surrogate pair is 2 code units and 4 bytes; other non-ASCII 1 unit and 2-3 bytes.
    if (c >= 0x80) bytes += c < 0x800 ? 1 : c >= 0xd800 && c <= 0xdbff ? 1 : 2;
  }
  return bytes;
}

/** Estimated prompt tokens of a request body, with a small per-message overhead for chat. */
export function estimatePromptTokens(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  return estimateTokens(promptText(body)) + messages * 4;
}
