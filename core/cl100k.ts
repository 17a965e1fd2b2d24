/**
 * Token counts of ASCII text in cl100k_base, equal to what js-tiktoken's encoder returns, from
 * js-tiktoken's own rank table. Its encoder keeps all 100,256 tokens as a Map of
 * comma-joined byte strings plus one Uint8Array each for decoding: 32 MB of live heap that every
 * full garbage collection marks, built in ~270 ms on the event loop at the first estimate. We
 * only count (never decode) and only ASCII (core/tokens.ts counts other text by its bytes), so
 * this keeps the ASCII tokens as a Map from the token's own text to its rank.
 * @module
 */
import cl100k from "js-tiktoken/ranks/cl100k_base";

let ranks: Map<string, number> | null = null;

/** cl100k's pre-tokenizer: a text is split into these pieces, then each is merged on its own. */
const PIECES = new RegExp(cl100k.pat_str, "gu");
const ASCII = /^[\0-\x7f]*$/;

/** The rank of every ASCII token, keyed by its text (a base64 line format: `! offset tok…`). */
function asciiRanks(): Map<string, number> {
  const table = new Map<string, number>();
  for (const line of cl100k.bpe_ranks.split("\n")) {
    const fields = line.split(" ");
    const offset = Number.parseInt(fields[1], 10);
    for (let i = 2; i < fields.length; i++) {
      const token = atob(fields[i]); // one character per byte
      if (ASCII.test(token)) table.set(token, offset + i - 2);
    }
  }
  return table;
}

/**
 * Parts a piece merges into: js-tiktoken's byte-pair merge (join the adjacent pair with the
 * lowest rank, the first one on a tie, until no pair is a token). Quadratic in the piece's
 * length, so callers keep pieces short.
 */
function mergedParts(piece: string, table: Map<string, number>): number {
  const bounds = Array.from({ length: piece.length + 1 }, (_, i) => i);
  while (bounds.length > 2) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 2 < bounds.length; i++) {
      const rank = table.get(piece.slice(bounds[i], bounds[i + 2]));
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) break;
    bounds.splice(best + 1, 1);
  }
  return bounds.length - 1;
}

/**
 * Number of cl100k_base tokens of an ASCII text, special-token spellings counted as text (as
 * js-tiktoken's `encode(text, [], [])`). Not for other text: its bytes are not in the table.
 */
export function countAsciiTokens(text: string): number {
  const table = ranks ??= asciiRanks();
  let tokens = 0;
  for (const match of text.matchAll(PIECES)) {
    const piece = match[0];
    tokens += table.has(piece) ? 1 : mergedParts(piece, table);
  }
  return tokens;
}
