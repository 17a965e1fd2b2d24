/**
 * What every stream meter does, whatever the format: watch a streamed answer as it passes,
 * count its content, read Ollama's usage, tell how it ended, and end it with an error its
 * clients raise on.
 * @module
 */
import type { StreamUsage } from "../usage.ts";

/** Why the gateway ends a stream with an error: the status recorded, and what the client reads. */
export interface StreamFailure {
  status: number;
  message: string;
  code: string;
}

/** Reads usage out of one stream format. */
export interface StreamMeter {
  /** Content chunks seen so far (a fair count of generated tokens). */
  readonly chunks: number;
  /** Usage reported by Ollama, once seen. */
  readonly usage: StreamUsage | null;
  /** Whether the stream reached its normal end (`done:true`, `[DONE]`, `message_stop`, …). */
  readonly finished: boolean;
  /** Whether Ollama reported an error inside the stream (its clients see it as it came). */
  readonly failed: boolean;
  /** Bytes searched, copied and decoded so far (tests check it stays linear in the input). */
  readonly work: number;
  /**
   * Takes an upstream chunk the caller hands over (it may be rewritten in place); returns the
   * bytes to forward (the same array when unchanged), or null when there are none yet.
   */
  push(bytes: Uint8Array): Uint8Array | null;
  /** Returns what is still held back at the end of the stream. */
  flush(): Uint8Array | null;
  /**
   * The bytes that end this stream with `failure` in its clients' own error shape, so their
   * SDKs raise instead of taking a cut stream for a complete one. Sent after `flush`.
   */
  errorFrame(failure: StreamFailure): Uint8Array;
}
