import assert from "node:assert/strict";
import { PASSWORD, uiTest } from "./ui_fixture.ts";

uiTest(
  "/metrics without a valid bearer is a JSON 401 with WWW-Authenticate, never a page",
  async (f) => {
    await f.signIn(); // a UI session is no credential for /metrics either
    for (
      const authorization of [undefined, "Bearer wrong-token-0123456789", "Basic Zm9vOmJhcg=="]
    ) {
      const res = await f.request("/metrics", {
        headers: authorization ? { authorization } : {},
      });
      assert.equal(res.status, 401, String(authorization));
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="llm-quota admin"');
      assert.match(res.headers.get("content-type")!, /^application\/json/);
      assert.deepEqual(await res.json(), {
        error: "Metrics need Authorization: Bearer <ADMIN_PASSWORD or METRICS_TOKEN>",
      });
    }
    const ok = await f.request("/metrics", { headers: { authorization: `Bearer ${PASSWORD}` } });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get("content-type")!, /^text\/plain/);
    await ok.body?.cancel();
  },
);

uiTest("the JSON API's 401 carries WWW-Authenticate: Bearer", async (f) => {
  const res = await f.request("/api/api-keys");
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="llm-quota admin"');
  assert.match((await res.json()).error, /Authorization: Bearer <ADMIN_PASSWORD>/);
});
