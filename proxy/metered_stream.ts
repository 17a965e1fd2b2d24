/**
 * Forwarding a streamed answer: each upstream chunk goes to the client as it arrives, through a
 * meter, and how the stream ended is reported once. This runs once per forwarded chunk, so it
 * does as little as it can: one read, one look by the meter, one enqueue.
 * @module
 */
import { GatewayStopping } from "../core/inflight.ts";
import type { StreamMeter } from "./stream_meter.ts";

/** How a forwarded stream ended; each returns once usage is recorded. */
export interface StreamEvents {
  ended(): Promise<unknown>;
  upstreamFailed(): Promise<unknown>;
  clientLeft(): Promise<unknown>;
}

const encoder = new TextEncoder();

/**
 * Size of the buffer each stream reads into. fetch's default reader allocates (and zeroes) a
 * fresh 64 KiB buffer for every chunk, however small: for a 100-byte line that was most of a
 * chunk's cost and of a stream's memory. A reader that brings its own buffer reuses it.
 */
const READ_BYTES = 8 * 1024;

/** Forwards each upstream chunk as it arrives, through the meter, and reports how it ended. */
export function meteredStream(
  upstream: ReadableStream<Uint8Array>,
  meter: StreamMeter,
  native: boolean,
  upstreamSignal: AbortSignal,
  events: StreamEvents,
): ReadableStream<Uint8Array> {
  const reader = upstream.getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(READ_BYTES);
  // fetch does not always fail a body that is already streaming when its signal aborts, so an
  // abort cancels the reader itself: a pending read then ends, and the end is read as a failure.
  upstreamSignal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });

  const end = async (controller: ReadableStreamDefaultController<Uint8Array>, ok: boolean) => {
    const rest = meter.flush();
    if (rest) controller.enqueue(rest);
    if (ok) {
      // Usage is recorded before the client sees the end, so a finished stream is a counted one.
      await events.ended();
    } else {
      // Ollama went away mid-stream. Native clients recognise an error line; OpenAI clients
      // recognise a stream that ends without [DONE].
      if (native) {
        const why = upstreamSignal.reason instanceof GatewayStopping
          ? "gateway shutting down"
          : "upstream connection lost";
        controller.enqueue(encoder.encode(`{"error":"${why}"}\n`));
      }
      await events.upstreamFailed();
    }
    controller.close();
  };

  return new ReadableStream<Uint8Array>({
    // A plain promise chain, not an async function: one promise fewer per chunk.
    pull(controller) {
      return reader.read(new Uint8Array(buffer)).then(
        ({ done, value }) => {
          if (done) return end(controller, !upstreamSignal.aborted);
          // The read gives the buffer back (moved, not copied); the client gets an exact copy.
          buffer = value.buffer;
          const out = meter.push(value.slice());
          if (out) controller.enqueue(out);
        },
        () => end(controller, false),
      );
    },
    async cancel() {
      reader.cancel().catch(() => {});
      await events.clientLeft();
    },
  });
}
