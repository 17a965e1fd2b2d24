/**
 * OpenAI SSE streams (`/v1/chat/completions`, `/v1/completions`): `data: {…}` events, a usage
 * event with `"choices":[]` near the end, then `data: [DONE]`. This file also holds what the
 * stripping meter shares: how an event is told apart, read for usage, and the error frame.
 * @module
 */
import { errorBody } from "../errors.ts";
import { OPENAI_COUNTS, reportedUsage, type StreamUsage } from "../usage.ts";
import type { StreamFailure, StreamMeter } from "./meter.ts";
import { bytesOf, hasAt, indexOfBytes, PieceSplitter } from "./pieces.ts";

const DATA_PREFIX = bytesOf("data: ");
const DONE_DATA = bytesOf("data: [DONE]");
const ERROR_DATA = bytesOf('data: {"error"');
const CHOICES_KEY = bytesOf('"choices":');
const USAGE_KEY = bytesOf('"usage"');

/** What an OpenAI SSE event is, told from its bytes. */
export type SseEventKind = "content" | "done" | "error" | "usage" | "other";

/** Tells an event (a frame without its `\n\n`) apart without decoding it. */
export function sseEventKind(event: Uint8Array): SseEventKind {
  if (!hasAt(event, DATA_PREFIX, 0)) return "other";
  if (hasAt(event, DONE_DATA, 0)) return "done";
  if (hasAt(event, ERROR_DATA, 0)) return "error";
  if (hasEmptyChoices(event) && indexOfBytes(event, USAGE_KEY) !== -1) return "usage";
  return event.length > DATA_PREFIX.length ? "content" : "other";
}

/**
 * Whether the event holds `"choices":[]`, searched from its rare `[` (a quote-led search would
 * stop at every key): a content event has one `[`, so this costs two native searches.
 */
function hasEmptyChoices(event: Uint8Array): boolean {
  for (let at = event.indexOf(0x5b); at !== -1; at = event.indexOf(0x5b, at + 1)) {
    if (event[at + 1] === 0x5d && hasAt(event, CHOICES_KEY, at - CHOICES_KEY.length)) return true;
  }
  return false;
}

/** The counts of a usage event, or null when its JSON cannot be read. */
export function sseUsage(event: Uint8Array): StreamUsage | null {
  try {
    const data = JSON.parse(new TextDecoder().decode(event.subarray(DATA_PREFIX.length)));
    const usage = data?.usage ?? {};
    return reportedUsage(usage.prompt_tokens, usage.completion_tokens, OPENAI_COUNTS);
  } catch {
    return null; // malformed usage: fall back to counting
  }
}

/**
 * An OpenAI error event, `data: {"error":{…}}`, on which the OpenAI SDKs raise `APIError`. After
 * a cut event (`cut`), a blank line first so the error is an event of its own.
 */
export function sseErrorFrame(failure: StreamFailure, cut: boolean): Uint8Array {
  const body = errorBody("openai", failure.status, failure.message, failure.code);
  return bytesOf(`${cut ? "\n\n" : ""}data: ${JSON.stringify(body)}\n\n`);
}

/**
 * OpenAI SSE passed through as it came (the client asked for usage itself): events are found
 * and counted on the bytes; only the usage event is decoded and parsed.
 */
export class SseMeter implements StreamMeter {
  chunks = 0;
  usage: StreamUsage | null = null;
  finished = false;
  failed = false;
  /** Bytes of usage events decoded (the splitter counts its own work). */
  #own = 0;
  #events = new PieceSplitter("\n\n", (event) => this.#event(event));

  get work(): number {
    return this.#events.work + this.#own;
  }

  push(bytes: Uint8Array): Uint8Array {
    this.#events.push(bytes);
    return bytes;
  }

  flush(): null {
    this.#events.flush();
    return null;
  }

  errorFrame(failure: StreamFailure): Uint8Array {
    return sseErrorFrame(failure, this.#events.endedInsidePiece);
  }

  #event(event: Uint8Array): void {
    switch (sseEventKind(event)) {
      case "content":
        this.chunks++;
        return;
      case "done":
        this.finished = true;
        return;
      case "error":
        this.failed = true;
        return;
      case "usage":
        this.#own += event.length;
        this.usage = sseUsage(event) ?? this.usage;
    }
  }
}
