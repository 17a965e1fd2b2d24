/**
 * Each box's max_in_flight from the boxes table is what the pool holds it to (not a fixed 1),
 * and a change to it applies to the running pool.
 * @module
 */
import assert from "node:assert/strict";
import { boxesTest, until } from "../support/several_boxes.ts";

boxesTest(
  "a box's max_in_flight from the table is its capacity: raised to 3, it takes 3 at once",
  [
    { mock: { models: ["llama3:latest"], hang: true } },
    { mock: { models: ["qwen3:8b"], hang: true } },
  ],
  async ({ t, mocks, pool }) => {
    const { key } = await t.createKey();
    const [first] = await (await t.admin("/api/upstreams")).json();
    const patched = await t.admin(`/api/upstreams/${first.id}`, {
      method: "PATCH",
      body: JSON.stringify({ max_in_flight: 3 }),
    });
    assert.equal(patched.status, 200);
    assert.equal((await patched.json()).max_in_flight, 3);
    const stop = new AbortController();
    const send = () =>
      fetch(t.gateway.proxyUrl + "/api/generate", {
        method: "POST",
        headers: { authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: "llama3", prompt: "x", stream: false }),
        signal: stop.signal,
      }).then((r) => r.body?.cancel(), () => null);
    const running = [0, 1, 2, 3].map(send);
    await until(() => mocks[0]!.inferenceCount() === 3, "three requests on the first box");
    await until(() => pool.queueDepth === 1, "the fourth to wait");
    assert.equal(mocks[0]!.inferenceCount(), 3, "never above its max_in_flight");
    assert.deepEqual(pool.status().map((s) => [s.maxInFlight, s.inFlight]), [[3, 3], [1, 0]]);
    stop.abort();
    await Promise.all(running);
    await until(() => pool.status().every((s) => s.inFlight === 0), "the slots to be given back");
  },
);
