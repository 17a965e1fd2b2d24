import assert from "node:assert/strict";
import { isLoopback, isWildcard } from "../../core/loopback.ts";

Deno.test("loopback names and addresses are loopback in every spelling", () => {
  for (
    const host of [
      "localhost",
      "LOCALHOST",
      "localhost.",
      "app.localhost",
      "::1",
      "[::1]",
      "127.0.0.1",
      "127.1.2.3",
      "::ffff:127.0.0.1",
      "[::ffff:127.0.0.1]",
    ]
  ) assert.equal(isLoopback(host), true, host);
});

Deno.test("names that only look like loopback are not: they may resolve anywhere", () => {
  for (
    const host of [
      "127.example.com",
      "127.0.0.1.nip.io",
      "localhost.example.com",
      "127.0.0.256",
      "128.0.0.1",
      "0.0.0.0",
      "::",
      "10.0.0.1",
      "::ffff:10.0.0.1",
      "",
    ]
  ) assert.equal(isLoopback(host), false, host);
});

Deno.test("wildcard bind addresses are no host's name", () => {
  for (const host of ["0.0.0.0", "::", "[::]"]) assert.equal(isWildcard(host), true, host);
  for (const host of ["127.0.0.1", "localhost", "gpu-box"]) {
    assert.equal(isWildcard(host), false, host);
  }
});
