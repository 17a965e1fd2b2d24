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
 * Events are found on the bytes, as in `SseMeter`. A read whose events all pass unchanged is
 * forwarded as it came; in any other, the kept bytes are moved together in place (the read is
 * the meter's to rewrite), and only an event joined from earlier reads is copied. A read that
 * ends inside an event holds that event back until it is complete, so a read can yield nothing.
 */
export class SseStrippingMeter implements StreamMeter {
  chunks = 0;
  usage: StreamUsage | null = null;
  finished = false;
  failed = false;
  /** Bytes this meter copied, moved and decoded itself (the splitter counts its own). */
  #own = 0;
  /** The read being metered, and how much of its start holds the bytes kept so far. */
  #bytes: Uint8Array | null = null;
  #write = 0;
  /** What a piece joined from held bytes forwards (only a read's first piece, or the flush). */
  #joined: Uint8Array | null = null;
  /** Whether what this read forwards differs from what it brought. */
  #changed = false;
  /** Set while flushing: the piece handed over then has no separator after it. */
  #flushing = false;
  #events = new PieceSplitter("\n\n", (event) => this.#event(event));

  get work(): number {
    return this.#events.work + this.#own;
  }

  /** Takes a read the caller no longer needs: its bytes may be rewritten in place. */
  push(bytes: Uint8Array): Uint8Array | null {
    // Bytes held from an earlier read go out with this one; bytes held now go out later.
    this.#changed = this.#events.holding;
    this.#bytes = bytes;
    this.#write = 0;
    this.#events.push(bytes);
    this.#bytes = null;
    if (this.#events.holding) this.#changed = true;
    if (!this.#changed) return bytes;
    const kept = this.#write ? bytes.subarray(0, this.#write) : null;
    const joined = this.#joined;
    this.#joined = null;
    if (!joined) return kept;
    if (!kept) return joined;
    const out = new Uint8Array(joined.length + kept.length);
    out.set(joined);
    out.set(kept, joined.length);
    this.#own += out.length;
    return out;
  }

  flush(): Uint8Array | null {
    this.#flushing = true;
    this.#events.flush();
    this.#flushing = false;
    const rest = this.#joined;
    this.#joined = null;
    return rest;
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
    if (zero !== -1) this.#changed = true;
    const bytes = this.#bytes;
    if (bytes && event.buffer === bytes.buffer) {
      // A view of this read: move what is kept down to the write position. The separator
      // follows the event in the read, so writing it never overtakes bytes still to be read.
      const start = event.byteOffset - bytes.byteOffset;
      if (zero === -1) this.#move(bytes, start, start + event.length);
      else {
        this.#move(bytes, start, start + zero);
        this.#move(bytes, start + zero + ZERO_USAGE.length, start + event.length);
      }
      bytes[this.#write++] = 0x0a;
      bytes[this.#write++] = 0x0a;
      return;
    }
    // Joined from held bytes (a copy already, and at most one per read): copied once more.
    const cut = zero === -1 ? 0 : ZERO_USAGE.length;
    const separator = this.#flushing ? 0 : SEPARATOR.length;
    const out = new Uint8Array(event.length - cut + separator);
    if (zero === -1) out.set(event);
    else {
      out.set(event.subarray(0, zero));
      out.set(event.subarray(zero + cut), zero);
    }
    if (separator) out.set(SEPARATOR, out.length - separator);
    this.#own += out.length;
    this.#joined = out;
  }

  /** Moves `bytes[from, to)` to the write position (nothing to do when already there). */
  #move(bytes: Uint8Array, from: number, to: number): void {
    if (this.#write !== from) {
      bytes.copyWithin(this.#write, from, to);
      this.#own += to - from;
    }
    this.#write += to - from;
  }
}
