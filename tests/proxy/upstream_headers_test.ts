/**
 * Which headers cross the gateway in each direction (proxy/upstream.ts): header lists, so each
 * name must come out once, with the gateway's value where it sets one.
 * @module
 */
import assert from "node:assert/strict";
import { clientHeaders, upstreamHeaders, withToken } from "../../proxy/upstream.ts";

/** The values of `name` in a header list (lower-case names). */
const valuesOf = (list: Array<[string, string]>, name: string) =>
  list.filter(([n]) => n === name).map(([, v]) => v);

Deno.test("headers to Ollama drop credentials, hop-by-hop and identity headers; put replaces the client's", () => {
  const incoming = new Headers({
    "Authorization": "Bearer sk-client",
    "X-Api-Key": "sk-other",
    "Cookie": "session=1",
    "Content-Type": "text/plain",
    "Content-Length": "12",
    "Connection": "keep-alive",
    "X-OpenWebUI-User-Email": "a@example.com",
    "X-Forwarded-User": "alice",
    "User-Agent": "curl/8",
  });
  const out = upstreamHeaders(incoming, ["X-Forwarded-User"], {
    "content-type": "application/json",
  });
  assert.deepEqual(valuesOf(out, "content-type"), ["application/json"]);
  assert.deepEqual(valuesOf(out, "user-agent"), ["curl/8"]);
  for (
    const gone of [
      "authorization",
      "x-api-key",
      "cookie",
      "content-length",
      "connection",
      "x-openwebui-user-email",
      "x-forwarded-user",
    ]
  ) assert.deepEqual(valuesOf(out, gone), [], gone);
  // Every name once: fetch would join duplicates into one comma-separated value.
  assert.equal(new Set(out.map(([n]) => n)).size, out.length);
});

Deno.test("a box's token is the only authorization Ollama gets, and only for a box that has one", () => {
  const out = upstreamHeaders(new Headers({ authorization: "Bearer sk-client" }));
  assert.deepEqual(valuesOf(withToken(out, "box-secret"), "authorization"), ["Bearer box-secret"]);
  assert.deepEqual(withToken(out, null), out);
});

Deno.test("headers to the client keep Ollama's, drop framing, and carry the gateway's quota headers once", () => {
  const upstream = new Headers({
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": "42",
    "Date": "Mon, 07 Dec 2026 02:00:00 GMT",
    "X-Ratelimit-Remaining-Requests": "999",
    "X-Custom": "kept",
  });
  const out = clientHeaders(upstream, {
    "x-ratelimit-limit-requests": "10",
    "x-ratelimit-remaining-requests": "9",
  });
  assert.deepEqual(valuesOf(out, "content-type"), ["application/json; charset=utf-8"]);
  assert.deepEqual(valuesOf(out, "x-custom"), ["kept"]);
  assert.deepEqual(valuesOf(out, "x-ratelimit-remaining-requests"), ["9"]);
  assert.deepEqual(valuesOf(out, "x-ratelimit-limit-requests"), ["10"]);
  assert.deepEqual(valuesOf(out, "content-length"), []);
  assert.deepEqual(valuesOf(out, "date"), []);
  // What a client reads through Response is the same.
  const seen = new Response("{}", { headers: out }).headers;
  assert.equal(seen.get("x-ratelimit-remaining-requests"), "9");
});

Deno.test("headers named like Object's own properties cross in both directions", () => {
  const odd = new Headers([["constructor", "a"], ["__proto__", "b"]]);
  const toOllama = upstreamHeaders(odd, [], { "content-type": "application/json" });
  const toClient = clientHeaders(odd, { "x-ratelimit-limit-requests": "10" });
  for (const list of [toOllama, toClient]) {
    assert.deepEqual(valuesOf(list, "constructor"), ["a"]);
    assert.deepEqual(valuesOf(list, "__proto__"), ["b"]);
  }
});
