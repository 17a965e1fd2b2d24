/**
 * Token estimates with cl100k_base (js-tiktoken's table, counted by core/cl100k.ts), used only
 * where Ollama reports no count.
 * @module
 */
import { countAsciiTokens } from "./cl100k.ts";

/** ASCII characters of a text that are tokenised; the rest counts one token per character. */
const EXACT_CHARS = 2048;
/** Longest run of non-space (or of space) characters given to the tokenizer in one piece. */
const MAX_PIECE = 16;

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
 * time linear in its length. The byte-pair merge grows with the square of a piece's
 * length and is slow on non-ASCII bytes: 4,000 Chinese characters took 98 s, 1,000 "a" 0.7 s,
 * 8,000 spaces 50 s, and the event loop, so every request, waited. Hence only ASCII is tokenised,
 * in runs of (non-)space characters of at most MAX_PIECE, and only its first EXACT_CHARS; later
 * ASCII counts one token per character (an upper bound: extrapolating from the first part let a
 * client hide dense text behind easy text); other text counts one token per two UTF-8 bytes,
 * at or above cl100k's count for accented, Cyrillic and CJK text and emoji.
 */
export function estimateTokens(text: string): number {
  if (text.length === 0) return 0;
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
      // Text that spells a special token ("<|endoftext|>") is counted as the text it is.
      if (piece !== "") exactTokens += countAsciiTokens(piece);
    }
  }
  return tokens + exactTokens + laterChars;
}
