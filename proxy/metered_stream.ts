/**
 * Forwarding a streamed answer: each upstream chunk goes to the client as it arrives, through a
 * meter, and how the stream ended is reported once. This runs once per forwarded chunk, so it
 * does as little as it can: one read, one look by the meter, one enqueue.
 * @module
 */
import { GatewayStopping } from "../core/inflight.ts";
import { chunkSource } from "./chunk_source.ts";
import type { StreamFailure, StreamMeter } from "./stream_meter.ts";

/** What a metered stream needs besides its upstream body. */
export interface MeteredStreamOptions {
  meter: StreamMeter;
  /** The upstream request's signal: aborted by a shutdown (reason `GatewayStopping`) or a timeout. */
  signal: AbortSignal;
  /**
   * The stream ended: 200 when it reached its normal end, else the status of the failure (its
   * error frame already sent). Returns once usage is recorded.
   */
  ended(status: number): Promise<unknown>;
  /** The client went away first. Returns once usage is recorded. */
  clientLeft(): Promise<unknown>;
  /** The first bytes of the answer are handed to the client now (for time to first byte). */
  firstByte?(): void;
}

const STOPPING: StreamFailure = {
  status: 503,
  message: "gateway shutting down",
  code: "shutting_down",
};
const LOST: StreamFailure = {
  status: 502,
  message: "upstream connection lost",
  code: "upstream_connection_lost",
};
// Ollama's own way of failing an OpenAI stream: the error becomes an empty chunk, then EOF.
const INCOMPLETE: StreamFailure = {
  status: 502,
  message: "Ollama ended the stream before it was complete",
  code: "upstream_incomplete",
};

/** The status recorded for a stream that carried Ollama's own error. */
const UPSTREAM_ERROR = 502;

/**
 * Size of the buffer each stream reads into (proxy/chunk_source.ts reuses it for every read).
 * fetch's default reader allocates (and zeroes) a fresh 64 KiB buffer for every chunk, however
 * small: for a 100-byte line that was most of a chunk's cost and of a stream's memory. Every
 * open stream holds it while it waits, so it is small: Ollama's lines are ~100–300 bytes, a
 * read still holds several, and 8 KiB cost 6 KB more live heap per open stream (bench/heap.ts).
 */
const READ_BYTES = 2 * 1024;

/** Forwards each upstream chunk as it arrives, through the meter, and reports how it ended. */
export function meteredStream(
  upstream: ReadableStream<Uint8Array>,
  options: MeteredStreamOptions,
): ReadableStream<Uint8Array> {
  const { meter, signal } = options;

  // Once the client has left, a read still under way must not end the stream a second time.
  let over = false;
  let first = true;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const end = async (cut: boolean) => {
    if (over) return;
    over = true;
    const rest = meter.flush();
    if (rest) controller.enqueue(rest);
    // A stream that reached its end is whole even if the connection broke after it, and one
    // that carries Ollama's own error has said so. Any other gets its format's error frame, so
    // that the client's SDK raises instead of taking a cut stream for a whole one.
    const failure = meter.finished || meter.failed
      ? null
      : !cut
      ? INCOMPLETE
      : signal.reason instanceof GatewayStopping
      ? STOPPING
      : LOST;
    if (failure) controller.enqueue(meter.errorFrame(failure));
    // Usage is recorded before the client sees the end, so a finished stream is a counted one.
    await options.ended(meter.failed ? UPSTREAM_ERROR : failure?.status ?? 200);
    controller.close();
  };

  // A plain promise chain with callbacks made once per stream, not an async function or
  // closures per chunk: this is the per-chunk path.
  const forward = (chunk: Uint8Array | null): Promise<void> | void => {
    // A read that completed as the client left (its bytes were there already): nothing to send.
    if (over) return;
    if (chunk === null) return end(signal.aborted);
    const out = meter.push(chunk);
    if (out?.length) {
      if (first) {
        first = false;
        options.firstByte?.();
      }
      controller.enqueue(out);
    } // Nothing to send yet (the read ended inside a held-back event, or held only the dropped
    // usage event): read on, since a pull that enqueues nothing is not called again.
    else return source.next();
  };
  const source = chunkSource(upstream, READ_BYTES, forward, () => end(true));
  // fetch does not always fail a body that is already streaming when its signal aborts, so an
  // abort stops the reading itself: a pending read then ends, and the end is read as a failure.
  signal.addEventListener("abort", source.close, { once: true });

  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    pull: source.next,
    async cancel() {
      over = true;
      source.close();
      await options.clientLeft();
    },
  });
}
