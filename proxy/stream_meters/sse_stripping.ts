/**
 * OpenAI SSE where the gateway asked for usage on the client's behalf: the usage event, and the
 * zero `usage` fields Ollama then adds to every event, are removed before the client sees them.
 * @module
 */
import type { StreamUsage } from "../usage.ts";
import type { StreamFailure, StreamMeter } from "./meter.ts";
import { bytesOf, hasAt, indexOfBytes, PieceSplitter } from "./pieces.ts";
import { sseErrorFrame, sseEventKind, sseUsage } from "./sse.ts";

const ZERO_USAGE = bytesOf(',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}');
const SEPARATOR = bytesOf("\n\n");

/**
 * Events are found on the bytes, as in `SseMeter`; a read whose events all pass unchanged is
 * forwarded as it came, any other is rebuilt from its kept parts in one copy. A read that ends
 * inside an event holds that event back until it is complete, so a read can yield nothing.
 */
export class SseStrippingMeter implements StreamMeter {
  chunks = 0;
  usage: StreamUsage | null = null;
  finished = false;
  failed = false;
  /** Bytes this meter copied and decoded itself (the splitter counts its own). */
  #own = 0;
  /** The parts of what this read forwards, in order (the array is reused from read to read). */
  #parts: Uint8Array[] = [];
  #partsLength = 0;
  /** Whether what this read forwards differs from what it brought. */
  #changed = false;
  /** Set while flushing: the piece handed over then had no separator after it. */
  #flushing = false;
  #events = new PieceSplitter("\n\n", (event) => this.#event(event));

  get work(): number {
    return this.#events.work + this.#own;
  }

  push(bytes: Uint8Array): Uint8Array | null {
    // Bytes held from an earlier read go out with this one; bytes held now go out later.
    this.#changed = this.#events.holding;
    this.#events.push(bytes);
    if (this.#events.holding) this.#changed = true;
    if (!this.#changed) {
      this.#parts.length = 0;
      this.#partsLength = 0;
      return bytes;
    }
    return this.#output();
  }

  flush(): Uint8Array | null {
    this.#flushing = true;
    this.#events.flush();
    this.#flushing = false;
    return this.#output();
  }

  errorFrame(failure: StreamFailure): Uint8Array {
    return sseErrorFrame(failure, this.#events.endedInsidePiece);
  }

  #event(event: Uint8Array): void {
    switch (sseEventKind(event)) {
      case "usage":
        this.#own += event.length;
        this.usage = sseUsage(event) ?? this.usage;
        this.#changed = true;
        return; // dropped: the client did not ask for it
      case "done":
        this.finished = true;
        break;
      case "error":
        this.failed = true;
        break;
      case "content":
        this.chunks++;
    }
    // Ollama puts the zero usage last, just before the closing brace; elsewhere is a fallback.
    let zero = event.length - ZERO_USAGE.length - 1;
    if (!hasAt(event, ZERO_USAGE, zero)) zero = indexOfBytes(event, ZERO_USAGE);
    if (zero === -1) {
      this.#keep(event);
    } else {
      this.#changed = true;
      this.#keep(event.subarray(0, zero));
      this.#keep(event.subarray(zero + ZERO_USAGE.length));
    }
    if (!this.#flushing) this.#keep(SEPARATOR);
  }

  #keep(part: Uint8Array): void {
    this.#parts.push(part);
    this.#partsLength += part.length;
  }

  /** The kept parts in one array, or null when nothing is kept. */
  #output(): Uint8Array | null {
    const parts = this.#parts;
    const out = this.#partsLength ? new Uint8Array(this.#partsLength) : null;
    if (out) {
      let at = 0;
      for (const part of parts) {
        out.set(part, at);
        at += part.length;
      }
      this.#own += out.length;
    }
    parts.length = 0;
    this.#partsLength = 0;
    return out;
  }
}
