/**
 * Keys are cached by hash for authentication, never for admission: a change made elsewhere
 * (another instance, the key CLI) reaches inference at once and read-only routes within the TTL.
 * @module
 */
import assert from "node:assert/strict";
import { openStore } from "../../db/mod.ts";
import { updateApiKey } from "../../core/api_keys.ts";
import { KEY_CACHE_TTL_MS } from "../../db/key_cache.ts";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";

const chat = { model: "llama3", stream: false, messages: [{ role: "user", content: "hi" }] };

/** Changes a key the way another gateway instance or the key CLI would: its own connection. */
async function changeElsewhere(t: TestGateway, id: number, patch: Record<string, unknown>) {
  const other = await openStore(t.db.url);
  try {
    assert.ok(await updateApiKey(other, id, patch, t.clock.now()));
  } finally {
    await other.close();
  }
}

gatewayTest(
  "a key deactivated by another instance is refused for inference at once, though cached here",
  async (t) => {
    const { key, id } = await t.createKey();
    const first = await t.post("/api/chat", key, chat);
    assert.equal(first.status, 200);
    await first.body?.cancel();

    await changeElsewhere(t, id, { active: false });
    const res = await t.post("/api/chat", key, chat);
    assert.equal(res.status, 401);
    assert.match((await res.json()).error, /deactivated/);
    assert.equal(t.mock.requests.length, 1, "the refused request never reached Ollama");
    assert.equal((await t.usage(id)).today.requests, 1, "the refusal is not counted");
  },
);

gatewayTest(
  "a limit lowered by another instance applies to the next request, though the key is cached",
  async (t) => {
    const { key, id } = await t.createKey({ daily_request_limit: 10 });
    const first = await t.post("/api/chat", key, chat);
    assert.equal(first.status, 200);
    await first.body?.cancel();

    await changeElsewhere(t, id, { daily_request_limit: 1 });
    const res = await t.post("/api/chat", key, chat);
    assert.equal(res.status, 429);
    await res.body?.cancel();
  },
);

gatewayTest(
  "read-only routes see another instance's deactivation within the key cache's bound",
  async (t) => {
    const { key, id } = await t.createKey();
    const tags = () => t.proxy("/api/tags", { headers: { authorization: `Bearer ${key}` } });
    const first = await tags();
    assert.equal(first.status, 200);
    await first.body?.cancel();

    await changeElsewhere(t, id, { active: false });
    await new Promise((r) => setTimeout(r, KEY_CACHE_TTL_MS + 100));
    const res = await tags();
    assert.equal(res.status, 401);
    await res.body?.cancel();
  },
);

gatewayTest(
  "a key deactivated through this instance's admin is refused at once everywhere",
  async (t) => {
    const { key, id } = await t.createKey();
    const tags = () => t.proxy("/api/tags", { headers: { authorization: `Bearer ${key}` } });
    const first = await tags();
    assert.equal(first.status, 200);
    await first.body?.cancel();

    const off = await t.admin(`/api/api-keys/${id}/deactivate`, { method: "PUT" });
    assert.equal(off.status, 200);
    await off.body?.cancel();
    const res = await tags();
    assert.equal(res.status, 401, "no cached copy survives a change made here");
    await res.body?.cancel();
  },
);
