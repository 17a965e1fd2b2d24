/**
 * DNS rebinding: a web page whose own name is re-pointed at 127.0.0.1 reaches the admin listener
 * from the admin's browser with its name in `Host`. The admin answers only to its own names:
 * loopback ones, ADMIN_HOST, and ADMIN_ALLOWED_HOSTS.
 * @module
 */
import assert from "node:assert/strict";
import { adminHostNames, hostName } from "../../admin/allowed_hosts.ts";
import { parseConfig } from "../../core/config.ts";
import { ADMIN_PASSWORD, startTestGateway, type TestGateway } from "../support/gateway.ts";
import { rawRequest } from "./raw_http.ts";

async function withGateway(
  env: Record<string, string>,
  fn: (t: TestGateway) => Promise<void>,
): Promise<void> {
  const t = await startTestGateway("sqlite", { env });
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

/** What the admin answers to GET `target` with this Host (and the admin bearer). */
async function statusFor(t: TestGateway, host: string, target = "/api/api-keys") {
  const res = await rawRequest(t.gateway.adminUrl, {
    method: "GET",
    target,
    headers: [["Host", host], ["Authorization", `Bearer ${ADMIN_PASSWORD}`]],
  });
  return { status: res.status, text: res.text };
}

const REBOUND = ["evil.example", "evil.example:8001", "attacker.test", "localhost.evil.example"];
const ADMIN_PATHS = ["/api/api-keys", "/metrics", "/login", "/keys", "/", "/static/app.css"];

Deno.test("a rebound Host is refused on every admin path with 421 and a message saying what to do", async () => {
  await withGateway({}, async (t) => {
    const port = new URL(t.gateway.adminUrl).port;
    for (const host of REBOUND) {
      for (const path of ADMIN_PATHS) {
        const { status, text } = await statusFor(t, host, path);
        assert.equal(status, 421, `${host} ${path}`);
        assert.match(text, /does not answer to the host name/, `${host} ${path}`);
        assert.match(text, /ADMIN_ALLOWED_HOSTS/, `${host} ${path}`);
      }
    }
    // The JSON API says so in JSON.
    const api = await statusFor(t, "evil.example", "/api/api-keys");
    assert.match(JSON.parse(api.text).error, /^This admin listener does not answer/);
    for (const host of ["localhost", `localhost:${port}`, "127.0.0.1", "127.0.0.5:1", "[::1]"]) {
      assert.equal((await statusFor(t, host)).status, 200, host);
      assert.equal((await statusFor(t, host.toUpperCase())).status, 200, host.toUpperCase());
    }
  });
});

Deno.test("ADMIN_ALLOWED_HOSTS adds names the admin answers to; others stay refused", async () => {
  await withGateway({ ADMIN_ALLOWED_HOSTS: "admin.example.com, Ops.Internal:8443" }, async (t) => {
    for (
      const host of [
        "admin.example.com",
        "ADMIN.example.com:8001",
        "ops.internal",
        "admin.example.com.",
      ]
    ) {
      assert.equal((await statusFor(t, host)).status, 200, host);
    }
    for (const host of ["example.com", "x.admin.example.com", "admin.example.com.evil.example"]) {
      assert.equal((await statusFor(t, host)).status, 421, host);
    }
  });
});

Deno.test("health checks answer whatever the Host (probes send the pod's address)", async () => {
  await withGateway({}, async (t) => {
    for (const host of ["10.1.2.3:8001", "evil.example"]) {
      assert.equal((await statusFor(t, host, "/healthz")).status, 200, host);
      assert.equal((await statusFor(t, host, "/readyz")).status, 200, host);
    }
  });
});

Deno.test("the admin's names: loopback, ADMIN_HOST unless a wildcard, and ADMIN_ALLOWED_HOSTS", () => {
  const names = (env: Record<string, string>) => [
    ...adminHostNames(parseConfig({ ADMIN_PASSWORD, ...env })),
  ];
  assert.deepEqual(names({}), ["127.0.0.1"]);
  assert.deepEqual(names({ ADMIN_HOST: "0.0.0.0" }), []);
  assert.deepEqual(names({ ADMIN_HOST: "::" }), []);
  assert.deepEqual(names({ ADMIN_HOST: "fd00::5" }), ["[fd00::5]"]);
  assert.deepEqual(
    names({ ADMIN_HOST: "Admin.LAN", ADMIN_ALLOWED_HOSTS: "a.example,b.example:9" }),
    [
      "a.example",
      "b.example",
      "admin.lan",
    ],
  );
  assert.equal(hostName("[::1]:8001"), "[::1]");
  assert.equal(hostName("LOCALHOST."), "localhost");
  assert.throws(
    () => parseConfig({ ADMIN_PASSWORD, ADMIN_ALLOWED_HOSTS: "a b" }),
    /ADMIN_ALLOWED_HOSTS/,
  );
});
