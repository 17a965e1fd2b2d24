/**
 * Finding the pieces of a byte stream (NDJSON lines, SSE frames) on the bytes, in linear time,
 * and the few byte comparisons the meters make on them.
 * @module
 */

const NEWLINE = 0x0a;

/**
 * Splits a byte stream at a separator — a newline (NDJSON) or a blank line, `\n\n` (SSE) —
 * holding back the unfinished last piece. Linear in the stream's length however it is cut:
 * every byte is searched once, and a piece that spans reads is kept as a list of copies, joined
 * once when its end arrives (never concatenated read by read, never searched again).
 */
export class PieceSplitter {
  /** Bytes searched and copied so far: the work tests check stays proportional to the input. */
  work = 0;
  /** Whether the stream ended inside a piece (`flush` had an unterminated one to hand over). */
  endedInsidePiece = false;
  #held: Uint8Array[] = [];
  #heldLength = 0;
  /** Blank-line mode: the held bytes end in `\n`, so a read starting with `\n` ends the piece. */
  #afterNewline = false;

  constructor(
    readonly separator: "\n" | "\n\n",
    readonly onPiece: (piece: Uint8Array) => void,
  ) {}

  /** Whether bytes of an unfinished piece are held back. */
  get holding(): boolean {
    return this.#heldLength > 0;
  }

  /** Hands every piece that `bytes` completes to `onPiece` (views of `bytes` where possible). */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    let start = 0;
    // Where the next search begins; every byte before it has been looked at once.
    let from = 0;
    if (this.separator === "\n") {
      for (let nl = bytes.indexOf(NEWLINE); nl !== -1; nl = bytes.indexOf(NEWLINE, from)) {
        this.onPiece(this.#piece(bytes, start, nl));
        start = from = nl + 1;
      }
    } else {
      if (this.#afterNewline && bytes[0] === NEWLINE) {
        // The separator straddles two reads: the held piece ends before its trailing `\n`.
        const held = this.#join(null);
        this.onPiece(held.subarray(0, held.length - 1));
        start = from = 1;
      }
      this.#afterNewline = false;
      for (let nl = bytes.indexOf(NEWLINE, from); nl !== -1; nl = bytes.indexOf(NEWLINE, from)) {
        from = nl + 1;
        if (from === bytes.length) {
          this.#afterNewline = true;
        } else if (bytes[from] === NEWLINE) {
          this.onPiece(this.#piece(bytes, start, nl));
          start = from = nl + 2;
        }
      }
    }
    this.work += bytes.length;
    if (start < bytes.length) {
      // A copy: the read's bytes go on to the client, and the piece is kept until it ends.
      const rest = bytes.slice(start);
      this.#held.push(rest);
      this.#heldLength += rest.length;
      this.work += rest.length;
    }
  }

  /** Hands over what is held at the end of the stream, if it is more than white space. */
  flush(): void {
    this.endedInsidePiece = this.#heldLength > 0;
    this.#afterNewline = false;
    if (this.#heldLength === 0) return;
    const rest = this.#join(null);
    if (!isBlank(rest)) this.onPiece(rest);
  }

  /** The piece `bytes[start, end)`, joined to the held start of it if there is one. */
  #piece(bytes: Uint8Array, start: number, end: number): Uint8Array {
    const part = bytes.subarray(start, end);
    return this.#heldLength === 0 ? part : this.#join(part);
  }

  /** The held bytes followed by `tail`, in one new array; nothing is held afterwards. */
  #join(tail: Uint8Array | null): Uint8Array {
    const held = this.#held;
    const out = held.length === 1 && !tail
      ? held[0]
      : new Uint8Array(this.#heldLength + (tail?.length ?? 0));
    if (out !== held[0]) {
      let at = 0;
      for (const part of held) {
        out.set(part, at);
        at += part.length;
      }
      if (tail) out.set(tail, at);
      this.work += out.length;
    }
    this.#held = [];
    this.#heldLength = 0;
    return out;
  }
}

/** Whether `bytes` holds `part` at `at`. */
export function hasAt(bytes: Uint8Array, part: Uint8Array, at: number): boolean {
  if (at < 0 || at + part.length > bytes.length) return false;
  for (let i = 0; i < part.length; i++) if (bytes[at + i] !== part[i]) return false;
  return true;
}

/** Where `part` first occurs in `bytes` from `from`, or -1 (native search for its first byte). */
export function indexOfBytes(bytes: Uint8Array, part: Uint8Array, from = 0): number {
  for (let at = bytes.indexOf(part[0], from); at !== -1; at = bytes.indexOf(part[0], at + 1)) {
    if (hasAt(bytes, part, at)) return at;
  }
  return -1;
}

/** Whether bytes are only white space (what trails the last separator, say). */
export function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return false;
  return true;
}

/** The bytes of `text` (for constants compared against the stream). */
export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
