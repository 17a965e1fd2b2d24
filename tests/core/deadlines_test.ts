import assert from "node:assert/strict";
import { DeadlineQueue } from "../../core/deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("deadlines expire in the order they were set, each after its full length", async () => {
  const q = new DeadlineQueue(40);
  const fired: Array<[string, number]> = [];
  const t0 = performance.now();
  q.start(() => fired.push(["a", performance.now() - t0]));
  await sleep(15);
  q.start(() => fired.push(["b", performance.now() - t0]));
  await sleep(80);
  assert.deepEqual(fired.map(([n]) => n), ["a", "b"]);
  assert.ok(fired[0][1] >= 39, `a after ${fired[0][1]} ms`);
  // b was set 15 ms later: the timer armed for a must not expire it early.
  assert.ok(fired[1][1] >= 54, `b after ${fired[1][1]} ms`);
  assert.equal(q.size, 0);
});

Deno.test("a cancelled deadline never fires, and the ones after it still do", async () => {
  const q = new DeadlineQueue(30);
  const fired: string[] = [];
  const first = q.start(() => fired.push("first"));
  await sleep(10);
  q.start(() => fired.push("second"));
  q.cancel(first);
  await sleep(70);
  assert.deepEqual(fired, ["second"]);
  q.cancel(first); // cancelling twice (or after expiry) is harmless
  assert.equal(q.size, 0);
});

Deno.test("a deadline set after all others expired arms the timer again", async () => {
  const q = new DeadlineQueue(20);
  const fired: string[] = [];
  q.start(() => fired.push("one"));
  await sleep(50);
  q.start(() => fired.push("two"));
  await sleep(50);
  assert.deepEqual(fired, ["one", "two"]);
});

Deno.test("an expiry callback that throws does not stop the others", async () => {
  const q = new DeadlineQueue(20);
  const fired: string[] = [];
  q.start(() => {
    throw new Error("boom");
  });
  q.start(() => fired.push("after"));
  await sleep(60);
  assert.deepEqual(fired, ["after"]);
});

Deno.test("many cancelled deadlines leave nothing behind", async () => {
  const q = new DeadlineQueue(20);
  for (let i = 0; i < 10_000; i++) q.cancel(q.start(() => assert.fail("cancelled")));
  assert.equal(q.size, 0);
  await sleep(50); // the armed timer fires once, finds nothing, and stops
});
