import assert from "node:assert/strict";
import { staticAsset } from "../../views/static_assets.ts";
import { PASSWORD, uiTest } from "./ui_fixture.ts";

uiTest("pages carry a strict CSP, no framing and a same-origin referrer", async (f) => {
  await f.signIn();
  for (
    const path of [
      "/login",
      "/keys",
      "/groups",
      "/keys/1",
      "/settings",
      "/models",
      "/proxy",
      "/nowhere",
    ]
  ) {
    const res = await f.request(path, { anonymous: path === "/login" });
    await res.body?.cancel();
    const csp = res.headers.get("content-security-policy")!;
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /script-src 'self'(;|$)/, path);
    assert.match(csp, /style-src 'self'(;|$)/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.match(csp, /form-action 'self'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.equal(res.headers.get("x-frame-options"), "DENY", path);
    assert.equal(res.headers.get("referrer-policy"), "same-origin", path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    assert.equal(res.headers.get("cache-control"), "no-store", path);
    assert.match(res.headers.get("vary") ?? "", /HX-Request/, path);
  }
});

uiTest("pages have no inline script, inline style or inline event handler", async (f) => {
  await f.signIn();
  const { id, key } = await f.createKey({ name: "Alice", daily_request_limit: "2" });
  await (await f.post("/groups", { name: "Team", daily_request_limit: "5" })).body?.cancel();
  await (await f.post(`/keys/${id}/group`, { group_id: "1" })).body?.cancel();
  await (await f.post(`/keys/${id}/delegation`, {
    identity: "openwebui-headers",
    trusted_peers: "127.0.0.1/32",
  })).body?.cancel();
  await (await f.chat(key, {}, { "X-OpenWebUI-User-Id": "u-1" })).body?.cancel();
  const pages = ["/login", "/keys", "/groups", `/keys/${id}`, "/groups/1/delete", "/settings"];
  for (const path of [...pages, "/models", "/proxy"]) {
    const res = await f.request(path, { anonymous: path === "/login" });
    assert.equal(res.status, 200, path);
    const html = await res.text();
    for (const tag of html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) {
      assert.match(tag[0], /^<script src="\/static\//, `${path}: scripts come from /static`);
      assert.equal(tag[1], "", `${path}: no inline script`);
    }
    assert.doesNotMatch(html, /<style|\sstyle="/, `${path}: no inline style`);
    assert.doesNotMatch(html, /\son[a-z]+="/, `${path}: no inline handler`);
    assert.doesNotMatch(html, /hx-on|hx-vars|js:/, `${path}: nothing htmx would eval`);
  }
});

uiTest("htmx is configured for the CSP through a meta tag", async (f) => {
  const html = await (await f.request("/login")).text();
  const content = /<meta name="htmx-config" content="([^"]+)"/.exec(html)![1];
  const config = JSON.parse(content.replaceAll("&quot;", '"'));
  assert.equal(config.allowEval, false);
  assert.equal(config.allowScriptTags, false);
  assert.equal(config.includeIndicatorStyles, false);
  assert.equal(config.historyRestoreAsHxRequest, false);
  assert.ok(!config.attributesToSettle.includes("style"));
});

uiTest("the layout links our static files and htmx by content-versioned URLs", async (f) => {
  const html = await (await f.request("/login")).text();
  for (const name of ["htmx.min.js", "admin.js", "admin.css", "icon.svg"]) {
    const hash = staticAsset(name)!.hash;
    assert.ok(html.includes(`/static/${name}?v=${hash}`), name);
  }
});

uiTest("static files are served with their type and cached for good when versioned", async (f) => {
  const htmx = staticAsset("htmx.min.js")!;
  const res = await f.request(`/static/htmx.min.js?v=${htmx.hash}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
  const body = await res.text();
  assert.match(body, /version:"2\.0\.11"/, "htmx from the pinned npm package");
  const css = await f.request("/static/admin.css");
  assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
  assert.equal(css.headers.get("cache-control"), "public, max-age=300");
  assert.match(await css.text(), /\.usage\.full \.fill/);
  const js = await (await f.request("/static/admin.js")).text();
  assert.match(js, /navigator\.clipboard\.writeText/);
});

uiTest("a static file the browser has is answered 304 by its ETag", async (f) => {
  const first = await f.request("/static/admin.css");
  const etag = first.headers.get("etag")!;
  await first.body?.cancel();
  const again = await f.request("/static/admin.css", { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
});

uiTest("an unknown static file or page is a 404 page, not a stack trace", async (f) => {
  for (const path of ["/static/..%2Fdeno.json", "/static/nope.js"]) {
    const res = await f.request(path);
    assert.equal(res.status, 404, path);
    assert.match(await res.text(), /This file does not exist/);
  }
  await f.signIn();
  const res = await f.request("/nowhere");
  assert.equal(res.status, 404);
  const html = await res.text();
  assert.match(html, /<h1>Not found<\/h1>/);
  assert.match(html, /There is no page at this address/);
});

uiTest("an unexpected failure answers 500 with no detail and logs once", async (f) => {
  await f.signIn();
  await f.deps.store.close(); // every query now fails
  const res = await f.request("/keys");
  assert.equal(res.status, 500);
  const html = await res.text();
  assert.match(html, /Something went wrong on our side/);
  assert.doesNotMatch(html, /at file:|at async|sqlite|closed/i);
  const logged = f.logs.filter((l) => l.includes("ERROR admin error"));
  assert.equal(logged.length, 1);
  assert.match(logged[0], /route="\/keys"/);
  const api = await f.request("/api/api-keys", {
    anonymous: true,
    headers: { authorization: `Bearer ${PASSWORD}` },
  });
  assert.equal(api.status, 500);
  assert.deepEqual(await api.json(), { error: "Internal error" });
});
