/**
 * Named-event SSE streams: Anthropic Messages (`/v1/messages`) and OpenAI Responses
 * (`/v1/responses`), `event: <type>\ndata: {…}\n\n` frames. Usage is in Anthropic's
 * `message_delta` (input also in `message_start`) and in the Responses API's
 * `response.completed` (or `.incomplete` / `.failed`).
 * @module
 */
import { errorBody } from "../errors.ts";
import { IO_COUNTS, reportedUsage, type StreamUsage } from "../usage.ts";
import type { StreamFailure, StreamMeter } from "./meter.ts";
import { bytesOf, hasAt, PieceSplitter } from "./pieces.ts";

/** Which API's events a stream carries: they differ in their end and their error event. */
export type EventDialect = "anthropic" | "responses";

const EVENT_PREFIX = bytesOf("event: ");
const CONTENT_BLOCK_DELTA = bytesOf("content_block_delta");
const RESPONSE_PREFIX = bytesOf("response.");
const DELTA_SUFFIX = bytesOf(".delta");

/** Named-event SSE types that carry a piece of generated output (counted as one token each). */
function isOutputDelta(type: string): boolean {
  return type === "content_block_delta" ||
    (type.startsWith("response.") && type.endsWith(".delta"));
}

/**
 * `isOutputDelta` on the bytes of a frame that starts with its `event: ` line, as Ollama writes
 * them; false for any other frame (which is then decoded and read as text).
 */
function isOutputDeltaFrame(frame: Uint8Array): boolean {
  if (!hasAt(frame, EVENT_PREFIX, 0)) return false;
  const start = EVENT_PREFIX.length;
  let end = frame.indexOf(0x0a, start);
  if (end === -1) end = frame.length;
  if (frame[end - 1] === 0x0d) end--;
  if (end - start === CONTENT_BLOCK_DELTA.length) return hasAt(frame, CONTENT_BLOCK_DELTA, start);
  return end - start > RESPONSE_PREFIX.length + DELTA_SUFFIX.length &&
    hasAt(frame, RESPONSE_PREFIX, start) && hasAt(frame, DELTA_SUFFIX, end - DELTA_SUFFIX.length);
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
function ioUsage(usage: unknown): StreamUsage {
  const u = (usage && typeof usage === "object" ? usage : {}) as Record<string, unknown>;
  return reportedUsage(u.input_tokens, u.output_tokens, IO_COUNTS);
}

/** The error event each dialect's SDK raises on. */
function errorEvent(dialect: EventDialect, failure: StreamFailure): string {
  // Anthropic's SDK raises APIError on `event: error` with its error body; OpenAI's raises on an
  // `error` event too, taking the event's own message (the shape of the Responses API's `error`).
  const body = dialect === "anthropic"
    ? errorBody("anthropic", failure.status, failure.message, failure.code)
    : { type: "error", code: failure.code, message: failure.message, param: null };
  return `event: error\ndata: ${JSON.stringify(body)}\n\n`;
}

/**
 * Only the frames that end a stream or carry usage are decoded and parsed; deltas are counted by
 * their event name on the bytes, and every byte is forwarded as it came.
 */
export class NamedEventMeter implements StreamMeter {
  chunks = 0;
  usage: StreamUsage | null = null;
  finished = false;
  failed = false;
  /** Anthropic reports the prompt in `message_start`; `message_delta` may leave it out. */
  #start: StreamUsage | null = null;
  /** Bytes of frames this meter decoded (the splitter counts its own work). */
  #own = 0;
  #frames = new PieceSplitter("\n\n", (frame) => this.#frame(frame));

  constructor(readonly dialect: EventDialect) {}

  get work(): number {
    return this.#frames.work + this.#own;
  }

  push(bytes: Uint8Array): Uint8Array {
    this.#frames.push(bytes);
    return bytes;
  }

  flush(): null {
    this.#frames.flush();
    return null;
  }

  errorFrame(failure: StreamFailure): Uint8Array {
    const cut = this.#frames.endedInsidePiece ? "\n\n" : "";
    return bytesOf(cut + errorEvent(this.dialect, failure));
  }

  #frame(bytes: Uint8Array): void {
    if (isOutputDeltaFrame(bytes)) {
      this.chunks++;
      return;
    }
    this.#own += bytes.length;
    const { type, data } = parseFrame(new TextDecoder().decode(bytes));
    if (isOutputDelta(type)) {
      this.chunks++;
      return;
    }
    switch (type) {
      case "message_start":
        this.#start = ioUsage(this.#json(data)?.message?.usage);
        return;
      case "message_delta": {
        const delta = ioUsage(this.#json(data)?.usage);
        const usage: StreamUsage = {
          promptTokens: delta.promptTokens ?? this.#start?.promptTokens ?? null,
          completionTokens: delta.completionTokens,
        };
        const invalid = [...(this.#start?.invalid ?? []), ...(delta.invalid ?? [])];
        if (invalid.length) usage.invalid = invalid;
        this.usage = usage;
        return;
      }
      case "message_stop":
        this.finished = true;
        return;
      case "response.completed":
      case "response.incomplete":
      case "response.failed": {
        const response = this.#json(data)?.response;
        if (response?.usage) this.usage = ioUsage(response.usage);
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
