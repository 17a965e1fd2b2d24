import assert from "node:assert/strict";
import { DeadlineQueue } from "../../core/deadlines.ts";

// The test's own waits use the timer function as it was, so that countTimers sees only the queue's.
const realSetTimeout = globalThis.setTimeout;
const sleep = (ms: number) => new Promise((r) => realSetTimeout(r, ms));

/** Waits until `done()` holds (a loaded CI machine may run timers late), at most 5 s. */
async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done(); waited += 5) {
    if (waited > 5_000) assert.fail("timed out waiting");
    await sleep(5);
  }
}

/** Counts the timers armed while `fn` runs (and after, until the returned stop is called). */
function countTimers(): { count: () => number; stop: () => void } {
  const original = realSetTimeout;
  let n = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    n++;
    return original(...args);
  }) as typeof setTimeout;
  return { count: () => n, stop: () => globalThis.setTimeout = original };
}

Deno.test("deadlines expire in the order they were set, each after its full length", async () => {
  const q = new DeadlineQueue(40);
  const fired: Array<[string, number]> = [];
  const t0 = performance.now();
  q.start(() => fired.push(["a", performance.now() - t0]));
  await sleep(15);
  const bSetAt = performance.now() - t0;
  q.start(() => fired.push(["b", performance.now() - t0]));
  await until(() => fired.length === 2);
  assert.deepEqual(fired.map(([n]) => n), ["a", "b"]);
  assert.ok(fired[0][1] >= 39, `a after ${fired[0][1]} ms`);
  // b was set later: the timer armed for a must not expire it early.
  assert.ok(fired[1][1] >= bSetAt + 39, `b after ${fired[1][1]} ms, set at ${bSetAt}`);
  assert.equal(q.size, 0);
});

Deno.test("a cancelled deadline never fires, and the ones after it still do", async () => {
  const q = new DeadlineQueue(30);
  const fired: string[] = [];
  const first = q.start(() => fired.push("first"));
  await sleep(10);
  q.start(() => fired.push("second"));
  q.cancel(first);
  await until(() => fired.length > 0);
  await sleep(20);
  assert.deepEqual(fired, ["second"]);
  q.cancel(first); // cancelling twice (or after expiry) is harmless
  assert.equal(q.size, 0);
});

Deno.test("a deadline set after all others expired arms the timer again", async () => {
  const q = new DeadlineQueue(20);
  const fired: string[] = [];
  q.start(() => fired.push("one"));
  await until(() => fired.length === 1);
  q.start(() => fired.push("two"));
  await until(() => fired.length === 2);
  assert.deepEqual(fired, ["one", "two"]);
});

Deno.test("an expiry callback that throws does not stop the others", async () => {
  const q = new DeadlineQueue(20);
  const fired: string[] = [];
  q.start(() => {
    throw new Error("boom");
  });
  q.start(() => fired.push("after"));
  await until(() => fired.length === 1);
  assert.equal(q.size, 0);
});

Deno.test("many cancelled deadlines leave nothing behind", async () => {
  const q = new DeadlineQueue(20);
  for (let i = 0; i < 10_000; i++) q.cancel(q.start(() => assert.fail("cancelled")));
  assert.equal(q.size, 0);
  await sleep(50); // the armed timer fires once, finds nothing, and stops
});

Deno.test("a deadline started inside an expiry keeps one timer, not a second chain", async () => {
  const q = new DeadlineQueue(10);
  let expiries = 0;
  const timers = countTimers();
  try {
    const next = () => {
      if (++expiries < 10) q.start(next);
    };
    q.start(next);
    await until(() => expiries === 10);
    await sleep(30);
    // One timer per expiry (10 here; 25 leaves room for a late machine), not a chain per re-entry (~100).
    assert.ok(timers.count() <= 25, `${timers.count()} timers armed for 10 expiries`);
  } finally {
    timers.stop();
  }
});

Deno.test("a deadline longer than a timer can take does not wake the queue every millisecond", async () => {
  const q = new DeadlineQueue(3_000_000_000); // ~35 days: over 2^31 - 1 ms
  const timers = countTimers();
  try {
    const d = q.start(() => assert.fail("not due for weeks"));
    await sleep(60);
    assert.ok(timers.count() <= 2, `${timers.count()} timers armed in 60 ms`);
    q.cancel(d);
  } finally {
    timers.stop();
  }
});
