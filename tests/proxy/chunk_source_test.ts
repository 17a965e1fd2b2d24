import assert from "node:assert/strict";
import { chunkSource } from "../../proxy/chunk_source.ts";

// Upstream bodies read chunk by chunk: a real fetch body (from a server on a real port) straight
// from its Deno resource, any other stream through a BYOB reader; both hand out copies.

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A server whose answer is `parts`, each written after `gapMs`; `cancelled` settles when the
 * client went away before the end.
 */
function serveParts(parts: string[], gapMs = 5, holdOpen = false) {
  let cancelled!: () => void;
  const gone = new Promise<void>((r) => cancelled = r);
  // Answers still open when the test ends are ended, so that shutdown() need not wait for them.
  const open = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    let i = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        open.add(c);
      },
      pull(c) {
        return new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            if (i < parts.length) c.enqueue(enc.encode(parts[i++]));
            else if (!holdOpen) c.close();
            resolve();
          }, gapMs);
        });
      },
      cancel() {
        clearTimeout(timer);
        cancelled();
      },
    });
    return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
  });
  const stop = async () => {
    for (const c of open) {
      try {
        c.error(new Error("test over"));
      } catch { /* closed already */ }
    }
    await server.shutdown();
  };
  return { url: `http://127.0.0.1:${server.addr.port}/`, stop, gone };
}

/** Waits for `p`, or fails with `message` after 5 s. */
async function within(p: Promise<unknown>, message: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      p,
      new Promise((_, reject) => timer = setTimeout(() => reject(new Error(message)), 5000)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads `body` to its end through a chunk source of `bytes`; returns the kind and the chunks. */
async function readAll(body: ReadableStream<Uint8Array>, bytes = 2048) {
  const chunks: Uint8Array[] = [];
  let done!: () => void;
  let fail!: (err: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  const source = chunkSource(body, bytes, (chunk) => {
    if (chunk === null) return done();
    chunks.push(chunk);
    return source.next();
  }, (err) => fail(err));
  await source.next();
  await finished;
  return { kind: source.kind, chunks };
}

Deno.test("a fetch body is read straight from its resource: every byte, in order", async () => {
  const lines = Array.from({ length: 30 }, (_, i) => `{"n":${i},"done":false}\n`);
  const up = serveParts(lines, 2);
  try {
    const res = await fetch(up.url);
    const { kind, chunks } = await readAll(res.body!);
    assert.equal(kind, "resource");
    assert.equal(chunks.map((c) => dec.decode(c)).join(""), lines.join(""));
    assert.ok(chunks.length > 1, "chunks came as they were written, not as one");
  } finally {
    await up.stop();
  }
});

Deno.test("each chunk is the caller's own copy: the buffer is reused for the next read", async () => {
  const up = serveParts(["aaaa", "bbbb", "cccc"], 20);
  try {
    const res = await fetch(up.url);
    const { chunks } = await readAll(res.body!);
    // Had a chunk been a view of the reused buffer, the later reads would have overwritten it.
    assert.deepEqual(chunks.map((c) => dec.decode(c)), ["aaaa", "bbbb", "cccc"]);
    assert.equal(new Set(chunks.map((c) => c.buffer)).size, 3);
  } finally {
    await up.stop();
  }
});

Deno.test("a part far larger than the buffer arrives whole over several reads", async () => {
  const big = `{"message":{"content":"${"x".repeat(80_000)}"},"done":true}\n`;
  const up = serveParts(['{"done":false}\n', big], 2);
  try {
    const res = await fetch(up.url);
    const { kind, chunks } = await readAll(res.body!, 2048);
    assert.equal(kind, "resource");
    assert.ok(chunks.every((c) => c.length <= 2048));
    assert.equal(chunks.map((c) => dec.decode(c)).join(""), '{"done":false}\n' + big);
  } finally {
    await up.stop();
  }
});

Deno.test("close() ends a pending read as a failure and closes the upstream connection", async () => {
  const up = serveParts(["first\n"], 5, true);
  try {
    const res = await fetch(up.url);
    const seen: string[] = [];
    let failed!: () => void;
    const failure = new Promise<void>((r) => failed = r);
    const source = chunkSource(res.body!, 2048, (chunk) => {
      seen.push(chunk === null ? "end" : dec.decode(chunk));
      // The second read waits for a part that never comes: closed while it waits.
      if (seen.length === 1) queueMicrotask(() => setTimeout(() => source.close(), 20));
      return source.next();
    }, () => failed());
    assert.equal(source.kind, "resource");
    // Not awaited: each read's promise follows the next one, up to the read that is cut.
    const reading = source.next();
    await within(failure, "the pending read did not end");
    await reading;
    assert.deepEqual(seen, ["first\n"]);
    // The server's stream is cancelled: the connection to it was dropped, not left open.
    await within(up.gone, "the upstream connection was kept open");
  } finally {
    await up.stop();
  }
});

Deno.test("a stream that is not a fetch body is read with a BYOB reader", async () => {
  const parts = ["one\n", "two\n"];
  const body = new ReadableStream({
    type: "bytes",
    pull(c: ReadableByteStreamController) {
      const next = parts.shift();
      if (next) c.enqueue(enc.encode(next));
      else {
        c.close();
        c.byobRequest?.respond(0);
      }
    },
  });
  const { kind, chunks } = await readAll(body);
  assert.equal(kind, "byob");
  assert.equal(chunks.map((c) => dec.decode(c)).join(""), "one\ntwo\n");
});

Deno.test("a fetch body read from before is read on as a stream, so no queued byte is lost", async () => {
  const lines = ["alpha\n", "beta\n", "gamma\n"];
  const up = serveParts(lines, 10);
  try {
    const res = await fetch(up.url);
    const reader = res.body!.getReader();
    const first = await reader.read();
    reader.releaseLock();
    const { kind, chunks } = await readAll(res.body!);
    assert.equal(kind, "byob");
    assert.equal(
      dec.decode(first.value) + chunks.map((c) => dec.decode(c)).join(""),
      lines.join(""),
    );
  } finally {
    await up.stop();
  }
});
