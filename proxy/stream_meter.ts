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

/** Native NDJSON: one JSON object per line; the `done:true` line carries the counts. */
export class NdjsonMeter implements StreamMeter {
  chunks = 0;
  usage: StreamUsage | null = null;
  finished = false;
  failed = false;
  #lines = new PieceSplitter("\n", (line) => this.#line(line));

  push(bytes: Uint8Array): Uint8Array {
    this.#lines.push(bytes);
    return bytes;
  }

  flush(): null {
    this.#lines.flush();
    return null;
  }

  #line(line: string): void {
    if (line.length === 0) return;
    // Only the last line is parsed; content lines are just counted.
    if (line.includes('"done":true')) {
      try {
        const final = JSON.parse(line);
        this.usage = {
          promptTokens: typeof final.prompt_eval_count === "number"
            ? final.prompt_eval_count
            : null,
          completionTokens: typeof final.eval_count === "number" ? final.eval_count : null,
        };
        this.finished = true;
        return;
      } catch { /* not the final line after all: count it below */ }
    }
    if (line.startsWith('{"error"')) this.failed = true;
    else this.chunks++;
  }
}

const ZERO_USAGE = ',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}';

/** OpenAI SSE: `data: {…}` events; usage arrives in an event with `"choices":[]`. */
export class SseMeter implements StreamMeter {
  chunks = 0;
  usage: StreamUsage | null = null;
  finished = false;
  failed = false;
  #decoder = new TextDecoder();
  #encoder = new TextEncoder();
  #partial = "";
  #strip: boolean;

  /** `strip`: remove usage the client did not ask for (the gateway asked on its behalf). */
  constructor(strip: boolean) {
    this.#strip = strip;
  }

  push(bytes: Uint8Array): Uint8Array | null {
    const text = this.#partial + this.#decoder.decode(bytes, { stream: true });
    let start = 0;
    let end: number;
    let out = "";
    while ((end = text.indexOf("\n\n", start)) !== -1) {
      const event = text.slice(start, end + 2);
      if (this.#event(event) || !this.#strip) out += event;
      start = end + 2;
    }
    this.#partial = text.slice(start);
    if (!this.#strip) return bytes;
    // Held-back partial events are sent once complete; nothing else is delayed.
    return out ? this.#encoder.encode(out.replaceAll(ZERO_USAGE, "")) : null;
  }

  flush(): Uint8Array | null {
    const rest = this.#partial;
    this.#partial = "";
    if (!rest) return null;
    const keep = this.#event(rest);
    return this.#strip && keep ? this.#encoder.encode(rest.replaceAll(ZERO_USAGE, "")) : null;
  }

  /** Returns false for the usage-only event, which a stripping meter drops. */
  #event(event: string): boolean {
    const data = event.startsWith("data: ") ? event.slice(6).trimEnd() : "";
    if (data === "[DONE]") {
      this.finished = true;
      return true;
    }
    if (data.includes('"choices":[]') && data.includes('"usage"')) {
      try {
        const usage = JSON.parse(data).usage ?? {};
        this.usage = {
          promptTokens: typeof usage.prompt_tokens === "number" ? usage.prompt_tokens : null,
          completionTokens: typeof usage.completion_tokens === "number"
            ? usage.completion_tokens
            : null,
        };
      } catch { /* malformed usage: fall back to counting */ }
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
