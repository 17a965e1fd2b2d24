/**
 * Reading an upstream body chunk by chunk into one buffer that is reused, each chunk handed on
 * as its own copy. This runs once per forwarded chunk of every stream.
 *
 * A body that fetch returned is read straight from its Deno resource when Deno says which one:
 * Deno marks such streams with `[[resourceBacking]]` so that callers may "bypass the JavaScript
 * ReadableStream implementation and read directly from the underlying resource" (its own
 * comment; Deno.serve does so when a fetch body is passed through). Read as a web stream, every
 * chunk went through a byte stream's BYOB request, ~10 % of a streaming gateway's busy time
 * (bench/README.md, round seven). Any other stream, or a Deno that no longer exposes the
 * resource, is read with a BYOB reader, as before.
 * @module
 */

/** The next chunk (the caller's own copy), or null at the body's end. */
export type ChunkHandler = (chunk: Uint8Array | null) => Promise<void> | void;

/** One upstream body, read chunk by chunk. */
export interface ChunkSource {
  /** How the body is read: straight from Deno's resource, or through a BYOB reader. */
  readonly kind: "resource" | "byob";
  /** Reads the next chunk into `chunk`, or hands the failure to `failed`. One read at a time. */
  next(): Promise<void>;
  /** Stops reading: a pending read ends (as a failure), and the body is released. */
  close(): void;
}

/** The part of Deno's internal core this module uses (see the module comment). */
interface InternalCore {
  read(rid: number, into: Uint8Array): Promise<number>;
  tryClose(rid: number): void;
}

const core: InternalCore | null = (() => {
  const internal = (Deno as unknown as { internal?: symbol }).internal;
  const c = internal === undefined
    ? undefined
    : (Deno as unknown as Record<symbol, { core?: Partial<InternalCore> } | undefined>)[internal]
      ?.core;
  return typeof c?.read === "function" && typeof c?.tryClose === "function"
    ? c as InternalCore
    : null;
})();

/** A web stream's internal slot, found by its symbol's description (Deno does not export them). */
function slot(body: ReadableStream<Uint8Array>, name: string): unknown {
  const key = Object.getOwnPropertySymbols(body).find((s) => s.description === name);
  return key === undefined ? undefined : (body as unknown as Record<symbol, unknown>)[key];
}

/** The resource behind a fetch body that nobody has read from, or null. */
function resourceOf(body: ReadableStream<Uint8Array>): number | null {
  // A stream read from before may hold bytes of the resource in its own queue.
  if (core === null || body.locked || slot(body, "[[disturbed]]") !== false) return null;
  const backing = slot(body, "[[resourceBacking]]") as
    | { rid?: unknown; autoClose?: unknown }
    | undefined;
  // Only a resource the stream would close itself is ours to read and close.
  return typeof backing?.rid === "number" && backing.autoClose === true ? backing.rid : null;
}

/** Reads `body` through a buffer of `bytes`; `chunk` and `failed` get what each read gave. */
export function chunkSource(
  body: ReadableStream<Uint8Array>,
  bytes: number,
  chunk: ChunkHandler,
  failed: (err: unknown) => Promise<void> | void,
): ChunkSource {
  const rid = resourceOf(body);
  return rid === null
    ? byobSource(body, bytes, chunk, failed)
    : resourceSource(body, rid, bytes, chunk, failed);
}

function resourceSource(
  body: ReadableStream<Uint8Array>,
  rid: number,
  bytes: number,
  chunk: ChunkHandler,
  failed: (err: unknown) => Promise<void> | void,
): ChunkSource {
  const c = core!;
  // Locked, so nothing reads it beside this; and referenced until closed: Deno closes the
  // resource of a body stream that is garbage-collected.
  let stream: ReadableStream<Uint8Array> | null = body;
  stream.getReader();
  const buffer = new Uint8Array(bytes);
  const close = () => {
    if (stream === null) return;
    stream = null;
    c.tryClose(rid);
  };
  const got = (n: number) => {
    if (n > 0) return chunk(buffer.slice(0, n));
    close();
    return chunk(null);
  };
  const lost = (err: unknown) => {
    close();
    return failed(err);
  };
  return {
    kind: "resource",
    // A read after close() fails (the resource is gone): the caller sees the end as a failure.
    next: () => c.read(rid, buffer).then(got, lost),
    close,
  };
}

function byobSource(
  body: ReadableStream<Uint8Array>,
  bytes: number,
  chunk: ChunkHandler,
  failed: (err: unknown) => Promise<void> | void,
): ChunkSource {
  const reader = body.getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(bytes);
  const got = ({ done, value }: ReadableStreamReadResult<Uint8Array>) => {
    if (done) return chunk(null);
    // The read gives the buffer back (moved, not copied) for the next read.
    buffer = value.buffer as ArrayBuffer;
    return chunk(value.slice());
  };
  return {
    kind: "byob",
    next: () => reader.read(new Uint8Array(buffer)).then(got, failed),
    close: () => void reader.cancel().catch(() => {/* the body failed already: nothing to stop */}),
  };
}
