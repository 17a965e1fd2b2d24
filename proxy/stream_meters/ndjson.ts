/**
 * Native NDJSON streams (`/api/chat`, `/api/generate`): one JSON object per line; the last line
 * (`done:true`) carries the counts; an error ends the stream as an `{"error":…}` line.
 * @module
 */
import { errorBody } from "../errors.ts";
import { NATIVE_COUNTS, reportedUsage, type StreamUsage, withTimings } from "../usage.ts";
import type { StreamFailure, StreamMeter } from "./meter.ts";
import { bytesOf, hasAt, indexOfBytes, PieceSplitter } from "./pieces.ts";

const ERROR_LINE = bytesOf('{"error"');
/** How Ollama's content lines end (`done` is their last field): such a line is never final. */
const CONTENT_END = bytesOf('"done":false}');
const DONE_TRUE = bytesOf('"done":true');

/**
 * Lines are found and counted on the bytes, without decoding: only a line that can be the final
 * one is kept (copied), and only the last such line is parsed, once, when usage is asked for.
 */
export class NdjsonMeter implements StreamMeter {
  failed = false;
  /** Complete lines that are not empty and not errors: content, and the final line once seen. */
  #count = 0;
  /** The last counted line if it may be the final one, and whether it was parsed yet. */
  #last: Uint8Array | null = null;
  #parsed = true;
  #usage: StreamUsage | null = null;
  #finished = false;
  /** Bytes this meter copied and decoded itself (the splitter counts its own). */
  #own = 0;
  #lines = new PieceSplitter("\n", (line) => this.#line(line));

  get usage(): StreamUsage | null {
    this.#readLast();
    return this.#usage;
  }

  get finished(): boolean {
    this.#readLast();
    return this.#finished;
  }

  get chunks(): number {
    return this.#count - (this.finished ? 1 : 0);
  }

  get work(): number {
    return this.#lines.work + this.#own;
  }

  push(bytes: Uint8Array): Uint8Array {
    this.#lines.push(bytes);
    return bytes;
  }

  flush(): null {
    this.#lines.flush();
    return null;
  }

  errorFrame(failure: StreamFailure): Uint8Array {
    const line = JSON.stringify(errorBody("ollama", failure.status, failure.message, failure.code));
    // After a cut line, a newline first: the error must be a line of its own.
    return bytesOf(`${this.#lines.endedInsidePiece ? "\n" : ""}${line}\n`);
  }

  #line(line: Uint8Array): void {
    if (line.length === 0 || (line.length === 1 && line[0] === 0x0d)) return;
    if (hasAt(line, ERROR_LINE, 0)) {
      this.failed = true;
      return;
    }
    this.#count++;
    this.#parsed = false;
    // A copy only of a line that can be the final one: once per stream, not once per read.
    this.#last = hasAt(line, CONTENT_END, line.length - CONTENT_END.length) ? null : line.slice();
    if (this.#last) this.#own += line.length;
  }

  #readLast(): void {
    if (this.#parsed) return;
    this.#parsed = true;
    this.#usage = null;
    this.#finished = false;
    const last = this.#last;
    if (!last || indexOfBytes(last, DONE_TRUE) === -1) return;
    this.#own += last.length;
    try {
      const final = JSON.parse(new TextDecoder().decode(last));
      if (final?.done !== true) return;
      this.#finished = true;
      this.#usage = withTimings(
        reportedUsage(final.prompt_eval_count, final.eval_count, NATIVE_COUNTS),
        final,
      );
    } catch { /* not the final line after all: it stays counted as content */ }
  }
}
