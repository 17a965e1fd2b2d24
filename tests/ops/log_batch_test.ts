/**
 * Log lines are written in batches (core/log.ts LineBatcher): held for a moment, then written
 * in one piece, in order, each exactly once; a full batch or flush() writes at once.
 * @module
 */
import assert from "node:assert/strict";
import { createLogger, LineBatcher } from "../../core/log.ts";

function recorder() {
  const writes: string[] = [];
  const dec = new TextDecoder();
  return { writes, batcher: new LineBatcher((b) => writes.push(dec.decode(b))) };
}

/** Longer than the batch's wait (25 ms); a test never asserts how long a write took. */
const turn = () => new Promise((r) => setTimeout(r, 60));

Deno.test("lines logged together are held, then written in one write, in order", async () => {
  const { writes, batcher } = recorder();
  const log = createLogger("info", (l) => batcher.line(l));
  log.info("request", { n: 1 });
  log.debug("dropped");
  log.warn("request", { n: 2 });
  assert.equal(writes.length, 0, "nothing written at once");
  await turn();
  assert.equal(writes.length, 1);
  const lines = writes[0].split("\n");
  assert.equal(lines.length, 3, writes[0]);
  assert.match(lines[0], /^\S+ INFO request n=1$/);
  assert.match(lines[1], /^\S+ WARN request n=2$/);
  assert.equal(lines[2], "");
  await turn();
  assert.equal(writes.length, 1, "a batch is written once");
});

Deno.test("flush() writes what is held at once, and the pending turn writes nothing more", async () => {
  const { writes, batcher } = recorder();
  batcher.line("a");
  batcher.line("b");
  batcher.flush();
  assert.deepEqual(writes, ["a\nb\n"]);
  batcher.flush();
  await turn();
  assert.deepEqual(writes, ["a\nb\n"]);
  batcher.line("c");
  await turn();
  assert.deepEqual(writes, ["a\nb\n", "c\n"]);
});

Deno.test("a batch of 64 KiB is written without waiting for the turn", () => {
  const { writes, batcher } = recorder();
  const line = "x".repeat(1023);
  for (let i = 0; i < 64; i++) batcher.line(line);
  assert.equal(writes.length, 1);
  assert.equal(writes[0], (line + "\n").repeat(64));
  batcher.flush();
  assert.equal(writes.length, 1);
});
