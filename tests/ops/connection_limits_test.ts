import assert from "node:assert/strict";
import { defaultConnectionCaps, descriptorsNeeded } from "../../ops/connection_limits.ts";

Deno.test("default caps leave room below the open-file limit for Ollama, the database and Deno", () => {
  for (const limit of [256, 1024, 4096, 20_000]) {
    const caps = defaultConnectionCaps(limit, 10);
    assert.ok(descriptorsNeeded(caps, 10) <= limit, `limit ${limit}: ${JSON.stringify(caps)}`);
    assert.ok(caps.proxy >= 3 * caps.admin - 3, "three quarters to the proxy");
  }
  assert.deepEqual(defaultConnectionCaps(256, 10), { proxy: 54, admin: 18 });
  assert.deepEqual(defaultConnectionCaps(4096, 10), { proxy: 1494, admin: 498 });
});

Deno.test("default caps stay bounded on huge limits and positive on tiny ones", () => {
  assert.deepEqual(defaultConnectionCaps(1_048_576, 10), { proxy: 10_000, admin: 1_000 });
  assert.deepEqual(defaultConnectionCaps(50, 10), { proxy: 1, admin: 1 });
});
