/**
 * Watches a streamed answer as it passes: counts content chunks, reads the usage in the final
 * line or event, and (on OpenAI routes where the gateway asked for usage itself) removes it.
 * Bytes are forwarded untouched unless something must be stripped.
 * @module
 */

/** Token counts found in a stream. */
export interface StreamUsage {
  promptTokens: number | null;
  completionTokens: number | null;
}

/** Reads usage out of one stream format. */
export interface StreamMeter {
  /** Content chunks seen so far (a fair count of generated tokens). */
  readonly chunks: number;
  /** Usage reported by Ollama, once seen. */
  readonly usage: StreamUsage | null;
  /** Whether the stream reached its normal end (`done:true` or `[DONE]`). */
  readonly finished: boolean;
  /** Whether Ollama reported an error inside the stream. */
  readonly failed: boolean;
  /** Takes an upstream chunk; returns the bytes to forward (the same array when unchanged). */
  push(bytes: Uint8Array): Uint8Array | null;
  /** Returns what is still held back at the end of the stream. */
  flush(): Uint8Array | null;
}

/** Splits decoded stream text on a separator, holding back the unfinished last piece. */
class PieceSplitter {
  #decoder = new TextDecoder();
  #partial = "";
  constructor(readonly separator: string, readonly onPiece: (piece: string) => void) {}

  /** Decodes `bytes` and hands every completed piece to `onPiece`. */
  push(bytes: Uint8Array): void {
    const text = this.#partial + this.#decoder.decode(bytes, { stream: true });
    let start = 0;
    let end: number;
    while ((end = text.indexOf(this.separator, start)) !== -1) {
      this.onPiece(text.slice(start, end));
      start = end + this.separator.length;
    }
    this.#partial = text.slice(start);
  }

  /** Hands over what is left at the end of the stream, if it holds more than white space. */
  flush(): void {
    if (this.#partial.trim()) this.onPiece(this.#partial);
    this.#partial = "";
  }
}

const NEWLINE = 0x0a;
const ENCODED = new TextEncoder();
const ERROR_LINE = ENCODED.encode('{"error"');
const DATA_PREFIX = ENCODED.encode("data: ");
const DONE_DATA = ENCODED.encode("data: [DONE]");
const ERROR_DATA = ENCODED.encode('data: {"error"');
const EMPTY_CHOICES = ENCODED.encode('"choices":[]');

/** Whether `bytes` holds `part` at `at`. */
function hasAt(bytes: Uint8Array, part: Uint8Array, at: number): boolean {
  if (at + part.length > bytes.length) return false;
  for (let i = 0; i < part.length; i++) if (bytes[at + i] !== part[i]) return false;
  return true;
}

/** Where `part` first occurs in `bytes`, or -1 (native search for its first byte). */
function indexOfBytes(bytes: Uint8Array, part: Uint8Array): number {
  for (let at = bytes.indexOf(part[0]); at !== -1; at = bytes.indexOf(part[0], at + 1)) {
    if (hasAt(bytes, part, at)) return at;
  }
  return -1;
}

/** Whether bytes are only white space (what trails the last separator, say). */
function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return false;
  return true;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Native NDJSON: one JSON object per line; the last line (`done:true`) carries the counts.
 * Lines are found and counted on the bytes, without decoding: only the stream's last line is
 * ever parsed, when usage is asked for.
 */
export class NdjsonMeter implements StreamMeter {
  failed = false;
  /** Complete lines that are not empty and not errors: content, and the final line once seen. */
  #lines = 0;
  /** A copy of the last such line, and whether it was parsed yet. */
  #last: Uint8Array | null = null;
  #lastRead = true;
  #usage: StreamUsage | null = null;
  /** Bytes after the last newline: the start of a line that a later chunk finishes. */
  #partial: Uint8Array | null = null;

  get usage(): StreamUsage | null {
    this.#readLast();
    return this.#usage;
  }

  get finished(): boolean {
    return this.usage !== null;
  }

  get chunks(): number {
    return this.#lines - (this.usage !== null ? 1 : 0);
  }

  push(bytes: Uint8Array): Uint8Array {
    let start = 0;
    let lastLine: Uint8Array | null = null;
    for (let nl = bytes.indexOf(NEWLINE); nl !== -1; nl = bytes.indexOf(NEWLINE, start)) {
      let line = bytes.subarray(start, nl);
      if (this.#partial) {
        line = concat(this.#partial, line);
        this.#partial = null;
      }
      if (this.#take(line)) lastLine = line;
      start = nl + 1;
    }
    if (start < bytes.length) {
      const rest = bytes.subarray(start);
      this.#partial = this.#partial ? concat(this.#partial, rest) : rest.slice();
    }
    // One copy per chunk at most: the forwarded chunk itself is handed over to the client.
    if (lastLine) {
      this.#last = lastLine.slice();
      this.#lastRead = false;
    }
    return bytes;
  }

  flush(): null {
    const rest = this.#partial;
    this.#partial = null;
    if (rest && !isBlank(rest) && this.#take(rest)) {
      this.#last = rest;
      this.#lastRead = false;
    }
    return null;
  }

  /** Counts a complete line; true when it is a candidate for the final line. */
  #take(line: Uint8Array): boolean {
    if (line.length === 0 || (line.length === 1 && line[0] === 0x0d)) return false;
    if (hasAt(line, ERROR_LINE, 0)) {
      this.failed = true;
      return false;
    }
    this.#lines++;
    return true;
  }

  #readLast(): void {
    if (this.#lastRead) return;
    this.#lastRead = true;
    this.#usage = null;
    const text = new TextDecoder().decode(this.#last!);
    if (!text.includes('"done":true')) return;
    try {
      const final = JSON.parse(text);
      if (final?.done !== true) return;
      this.#usage = {
        promptTokens: typeof final.prompt_eval_count === "number" ? final.prompt_eval_count : null,
        completionTokens: typeof final.eval_count === "number" ? final.eval_count : null,
      };
    } catch { /* not the final line after all: it stays counted as content */ }
  }
}

/**
 * OpenAI SSE passed through as it came (the client asked for usage itself, or it is not an
 * OpenAI route that would need stripping): `data: {…}` events are found and counted on the
 * bytes; only the usage event (`"choices":[]`, once, at the end) is decoded and parsed.
 */
export class SseMeter implements StreamMeter {
  chunks = 0;
  usage: StreamUsage | null = null;
  finished = false;
  failed = false;
  /** The start of an event that a later chunk finishes. */
  #partial: Uint8Array | null = null;

  push(bytes: Uint8Array): Uint8Array {
    let data = bytes;
    if (this.#partial) {
      data = concat(this.#partial, bytes);
      this.#partial = null;
    }
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl !== -1; nl = data.indexOf(NEWLINE, nl + 1)) {
      if (data[nl + 1] !== NEWLINE) continue;
      this.#event(data.subarray(start, nl));
      start = nl + 2;
      nl++;
    }
    if (start < data.length) this.#partial = data.slice(start);
    return bytes;
  }

  flush(): null {
    const rest = this.#partial;
    this.#partial = null;
    if (rest && !isBlank(rest)) this.#event(rest);
    return null;
  }

  #event(event: Uint8Array): void {
    if (!hasAt(event, DATA_PREFIX, 0)) return;
    if (hasAt(event, DONE_DATA, 0)) {
      this.finished = true;
      return;
    }
    if (hasAt(event, ERROR_DATA, 0)) {
      this.failed = true;
      return;
    }
    if (indexOfBytes(event, EMPTY_CHOICES) !== -1) {
      const text = new TextDecoder().decode(event.subarray(DATA_PREFIX.length));
      if (text.includes('"usage"')) {
        this.usage = openAiUsage(text) ?? this.usage;
        return;
      }
    }
    if (event.length > DATA_PREFIX.length) this.chunks++;
  }
}

/** The counts of an OpenAI usage event's JSON, or null when it cannot be read. */
function openAiUsage(data: string): StreamUsage | null {
  try {
    const usage = JSON.parse(data).usage ?? {};
    return {
      promptTokens: typeof usage.prompt_tokens === "number" ? usage.prompt_tokens : null,
      completionTokens: typeof usage.completion_tokens === "number"
        ? usage.completion_tokens
        : null,
    };
  } catch {
    return null; // malformed usage: fall back to counting
  }
}

const ZERO_USAGE = ',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}';

/**
 * OpenAI SSE where the gateway asked for usage on the client's behalf: the usage event and the
 * zero `usage` fields Ollama then adds to every event are removed, so events are decoded and
 * rewritten; usage arrives in an event with `"choices":[]`.
 */
export class SseStrippingMeter implements StreamMeter {
  chunks = 0;
  usage: StreamUsage | null = null;
  finished = false;
  failed = false;
  #decoder = new TextDecoder();
  #encoder = new TextEncoder();
  #partial = "";

  push(bytes: Uint8Array): Uint8Array | null {
    const text = this.#partial + this.#decoder.decode(bytes, { stream: true });
    let start = 0;
    let end: number;
    let out = "";
    while ((end = text.indexOf("\n\n", start)) !== -1) {
      const event = text.slice(start, end + 2);
      if (this.#event(event)) out += event;
      start = end + 2;
    }
    this.#partial = text.slice(start);
    // Held-back partial events are sent once complete; nothing else is delayed.
    return out ? this.#encoder.encode(out.replaceAll(ZERO_USAGE, "")) : null;
  }

  flush(): Uint8Array | null {
    const rest = this.#partial;
    this.#partial = "";
    if (!rest) return null;
    return this.#event(rest) ? this.#encoder.encode(rest.replaceAll(ZERO_USAGE, "")) : null;
  }

  /** Returns false for the usage-only event, which is dropped. */
  #event(event: string): boolean {
    const data = event.startsWith("data: ") ? event.slice(6).trimEnd() : "";
    if (data === "[DONE]") {
      this.finished = true;
      return true;
    }
    if (data.includes('"choices":[]') && data.includes('"usage"')) {
      this.usage = openAiUsage(data) ?? this.usage;
      return false;
    }
    if (data.startsWith('{"error"')) this.failed = true;
    else if (data.length > 0) this.chunks++;
    return true;
  }
}

/** Named-event SSE types that carry a piece of generated output (counted as one token each). */
function isOutputDelta(type: string): boolean {
  return type === "content_block_delta" ||
    (type.startsWith("response.") && type.endsWith(".delta"));
}

/** The `event:` name and joined `data:` lines of one SSE frame. */
function parseFrame(frame: string): { type: string; data: string } {
  let type = "";
  const data: string[] = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(line[5] === " " ? 6 : 5));
  }
  return { type, data: data.join("\n") };
}

/** Reads `input_tokens` / `output_tokens` of an Anthropic or Responses usage object. */
function namedUsage(usage: unknown): { input: number | null; output: number | null } {
  const u = (usage && typeof usage === "object" ? usage : {}) as Record<string, unknown>;
  const num = (v: unknown) => typeof v === "number" ? v : null;
  return { input: num(u.input_tokens), output: num(u.output_tokens) };
}

/**
 * Anthropic Messages and OpenAI Responses streams: `event: <type>\ndata: {…}\n\n` frames. Usage
 * is in Anthropic's `message_delta` (input also in `message_start`) and in the Responses API's
 * `response.completed` (or `.incomplete` / `.failed`). Only those frames are parsed; deltas are
 * counted by their event name, and every byte is forwarded as it came.
 */
export class NamedEventMeter implements StreamMeter {
  chunks = 0;
  usage: StreamUsage | null = null;
  finished = false;
  failed = false;
  /** Anthropic reports the prompt in `message_start`; `message_delta` may leave it out. */
  #startInput: number | null = null;
  #frames = new PieceSplitter("\n\n", (frame) => this.#frame(frame));

  push(bytes: Uint8Array): Uint8Array {
    this.#frames.push(bytes);
    return bytes;
  }

  flush(): null {
    this.#frames.flush();
    return null;
  }

  #frame(frame: string): void {
    const { type, data } = parseFrame(frame);
    if (isOutputDelta(type)) {
      this.chunks++;
      return;
    }
    switch (type) {
      case "message_start":
        this.#startInput = namedUsage(this.#json(data)?.message?.usage).input;
        return;
      case "message_delta": {
        const { input, output } = namedUsage(this.#json(data)?.usage);
        this.usage = { promptTokens: input ?? this.#startInput, completionTokens: output };
        return;
      }
      case "message_stop":
        this.finished = true;
        return;
      case "response.completed":
      case "response.incomplete":
      case "response.failed": {
        const response = this.#json(data)?.response;
        if (response?.usage) {
          const { input, output } = namedUsage(response.usage);
          this.usage = { promptTokens: input, completionTokens: output };
        }
        if (type === "response.failed") this.failed = true;
        else this.finished = true;
        return;
      }
      case "error":
        this.failed = true;
    }
  }

  // deno-lint-ignore no-explicit-any
  #json(data: string): any {
    try {
      return JSON.parse(data);
    } catch {
      return null; // a malformed usage frame: fall back to counting
    }
  }
}
