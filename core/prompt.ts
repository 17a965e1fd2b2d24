/**
 * What a request puts into the model's prompt, and how many tokens that can be.
 *
 * Ollama's `prompt_eval_count` covers everything its template renders: messages, system
 * prompts, `tools` (as JSON), tool calls and their results, `template` and `suffix`, the token
 * ids of a `context`, images (a fixed number of tokens each). Admission reserves an upper bound
 * of all of that, computed from the canonical body (core/go_json.ts) before the admission's
 * lock is taken: one token per UTF-8 byte of rendered text (every token of a byte-level or
 * byte-fallback tokenizer covers at least one byte), one per `context` id, a fixed cost per
 * image, and an allowance for the template's own tokens.
 * @module
 */
import { estimateTokens } from "./tokens.ts";

/** Fields of a canonical body whose content Ollama renders into the prompt. */
const RENDERED = [
  "system",
  "instructions",
  "prompt",
  "suffix",
  "template",
  "messages",
  "input",
  "tools",
  "context",
  "images",
] as const;

/**
 * Keys under which templates render a value as JSON (tool definitions, tool calls and their
 * arguments, tool results of the compatibility layers): its keys and punctuation count too.
 */
const RENDERED_AS_JSON = new Set([
  "tools",
  "tool_calls",
  "function",
  "arguments",
  "parameters",
  "input_schema",
  "input",
  "output",
]);

/** Content-part types that are images (OpenAI chat, Anthropic, Responses). */
const IMAGE_PARTS = new Set(["image_url", "image", "input_image"]);

/** Tokens the model's template adds: a fixed part, one per message, one when tools are given. */
export interface TemplateAllowance {
  /** Tokens counted for each image. */
  imageTokens: number;
  /** Begin-of-text and the generation prompt. */
  base: number;
  /** Role markers and separators around each message (besides the role's own text). */
  perMessage: number;
  /** The tool-use instructions templates add when tools are given. */
  tools: number;
}

/** The allowance the gateway uses unless configured otherwise. */
export const DEFAULT_ALLOWANCE: TemplateAllowance = {
  imageTokens: 2048,
  base: 8,
  perMessage: 4,
  tools: 128,
};

/** The rendered parts of a request. */
export interface PromptParts {
  /** All rendered text, joined (for the tokenizer's estimate). */
  text: string;
  /** An upper bound of the rendered text's tokens: its bytes, JSON escapes included. */
  textBound: number;
  images: number;
  /** Token ids of a `context` (one token each). */
  contextTokens: number;
  /** Messages or input items (each gets the template's per-message tokens). */
  messages: number;
  hasTools: boolean;
}

/** Deeper than this, a subtree counts as its JSON text. */
const MAX_DEPTH = 32;

/** The parts being collected and the pieces of text joined into `text` at the end. */
interface Collecting {
  parts: PromptParts;
  pieces: string[];
}

/**
 * Collects what a canonical request body renders into the prompt: message texts as they are,
 * structures rendered as JSON (tools, tool calls) as Go's encoder writes them, images and
 * context ids by count.
 */
export function promptParts(body: Record<string, unknown>): PromptParts {
  const parts: PromptParts = {
    text: "",
    textBound: 0,
    images: 0,
    contextTokens: 0,
    messages: 0,
    hasTools: false,
  };
  // Module-level helpers, not closures made per call: under load V8 compiled `walk` with
  // TurboFan again about every 0.6 s (~8 ms each; bench/README.md, round eight).
  const c: Collecting = { parts, pieces: [] };
  for (const field of RENDERED) {
    const v = body[field];
    if (v === undefined || v === null) continue;
    if (field === "context" && Array.isArray(v)) parts.contextTokens += v.length;
    else if (field === "images" && Array.isArray(v)) parts.images += v.length;
    else if (field === "tools") {
      if (!Array.isArray(v) || v.length > 0) parts.hasTools = true;
      addPiece(c, JSON.stringify(v), true);
    } else {
      if ((field === "messages" || field === "input") && Array.isArray(v)) {
        parts.messages += v.length;
      }
      walk(c, v, 0);
    }
  }
  parts.text = c.pieces.join("\n");
  return parts;
}

function addPiece(c: Collecting, piece: string, asJson: boolean): void {
  c.pieces.push(piece);
  c.parts.textBound += (asJson ? goJsonLength(piece) : utf8Length(piece)) + 1;
}

function walk(c: Collecting, v: unknown, depth: number): void {
  if (typeof v === "string") addPiece(c, v, false);
  else if (typeof v === "number" || typeof v === "boolean") addPiece(c, String(v), false);
  else if (Array.isArray(v)) {
    if (depth > MAX_DEPTH) addPiece(c, JSON.stringify(v), true);
    else for (const item of v) walk(c, item, depth + 1);
  } else if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (typeof o.type === "string" && IMAGE_PARTS.has(o.type)) {
      c.parts.images++;
      return;
    }
    if (depth > MAX_DEPTH) return addPiece(c, JSON.stringify(v), true);
    for (const key in o) {
      if (!Object.hasOwn(o, key)) continue;
      const item = o[key];
      if (item === null || item === undefined) continue;
      if (key === "images" && Array.isArray(item)) c.parts.images += item.length;
      else if (RENDERED_AS_JSON.has(key) && typeof item === "object") {
        addPiece(c, JSON.stringify(item), true);
      } else walk(c, item, depth + 1);
    }
  }
}

function allowanceOf(parts: PromptParts, a: TemplateAllowance): number {
  return a.base + parts.messages * a.perMessage + (parts.hasTools ? a.tools : 0) +
    parts.images * a.imageTokens + parts.contextTokens;
}

/** An upper bound of the prompt's tokens: one per byte of rendered text, plus the allowance. */
export function promptBound(parts: PromptParts, a: TemplateAllowance = DEFAULT_ALLOWANCE): number {
  return parts.textBound + allowanceOf(parts, a);
}

/**
 * The prompt's tokens as charged when Ollama reports no count: the tokenizer's count where it is
 * exact (see estimateTokens), never above the bound. Costs CPU: never call it inside a lock.
 */
export function promptEstimate(
  parts: PromptParts,
  a: TemplateAllowance = DEFAULT_ALLOWANCE,
): number {
  return Math.min(estimateTokens(parts.text), parts.textBound) + allowanceOf(parts, a);
}

/**
 * Bytes of a string once JSON-encoded by Go: `<`, `>`, `&`, U+2028 and U+2029 become six-byte
 * `\u` escapes, control characters too (their short forms are shorter), quotes and backslashes
 * two. Templates render tools this way, so a tool full of `<` costs six tokens' worth each.
 */
export function goJsonLength(text: string): number {
  let extra = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029 || c < 0x20) {
      extra += c >= 0x2028 ? 3 : 5;
    } else if (c === 0x22 || c === 0x5c) extra += 1;
  }
  return utf8Length(text) + extra;
}

/** UTF-8 size of a string (a lone surrogate counts 3 bytes, as TextEncoder writes U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A surrogate pair is 2 code units and 4 bytes; other non-ASCII 1 unit and 2-3 bytes.
    if (c >= 0x80) bytes += c < 0x800 ? 1 : c >= 0xd800 && c <= 0xdbff ? 1 : 2;
  }
  return bytes;
}
