import assert from "node:assert/strict";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { CLIENT, csrfOf, PASSWORD, startUi, uiTest } from "./ui_fixture.ts";

uiTest("GET /login shows a labelled password field and no navigation", async (f) => {
  const res = await f.request("/login");
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /<!doctype html>/i);
  assert.match(html, /<label for="password">Admin password<\/label>/);
  assert.match(html, /<input id="password" name="password" type="password"/);
  assert.doesNotMatch(html, /href="\/settings"/);
});

uiTest("every page and action of the UI sends strangers to the login page", async (f) => {
  const pages = ["/", "/keys", "/keys/1/edit", "/keys/1/delete", "/settings", "/models", "/proxy"];
  for (const path of pages) {
    const res = await f.request(path);
    assert.equal(res.status, 303, path);
    assert.equal(res.headers.get("location"), `/login?next=${encodeURIComponent(path)}`);
  }
  const actions = [
    "/keys",
    "/keys/1",
    "/keys/1/activate",
    "/keys/1/deactivate",
    "/keys/1/delete",
    "/settings",
    "/settings/test",
  ];
  for (const path of actions) {
    const res = await f.request(path, {
      form: { name: "sneaky", ollama_url: "http://127.0.0.1:9", default_model: "x" },
    });
    assert.equal(res.status, 303, path);
    assert.match(res.headers.get("location")!, /^\/login/);
  }
  assert.equal((await f.deps.store.listKeys()).length, 0);
  assert.equal((await f.deps.settings.get()).ollama_url, f.mock.url);
});

uiTest("htmx requests without a session are told to load the login page", async (f) => {
  const res = await f.request("/keys?name=a", { htmx: true });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("hx-redirect"), "/login?next=%2Fkeys%3Fname%3Da");
});

uiTest("the right password sets an HttpOnly, SameSite=Strict session cookie", async (f) => {
  const res = await f.request("/login", { form: { password: PASSWORD, next: "/settings" } });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/settings");
  const cookie = res.headers.get("set-cookie")!;
  assert.match(cookie, /^llmq_session=[A-Za-z0-9_-]{40,};/);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Max-Age=1800/);
  assert.doesNotMatch(cookie, /Secure/);
  assert.ok(!cookie.includes(PASSWORD));
  assert.equal((await f.request("/settings")).status, 200);
});

uiTest("the session cookie is Secure when the request came over https", async (f) => {
  const direct = await f.app.request("https://admin.example/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `password=${PASSWORD}`,
  });
  assert.match(direct.headers.get("set-cookie")!, /; Secure/);
  const proxied = await f.request("/login", {
    form: { password: PASSWORD },
    headers: { "x-forwarded-proto": "https" },
  });
  assert.match(proxied.headers.get("set-cookie")!, /; Secure/);
});

uiTest("a wrong password is refused with a message and no cookie", async (f) => {
  const res = await f.request("/login", { form: { password: "guess" } });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("set-cookie"), null);
  assert.match(await res.text(), /Wrong password/);
  assert.match(f.logs.join("\n"), /WARN admin login failed address="192.0.2.10"/);
  assert.ok(!f.logs.join("\n").includes("guess"), "the tried password is never logged");
});

uiTest(
  "after 5 wrong passwords in a minute an address gets 429, even with the right one",
  async (f) => {
    for (let i = 0; i < 5; i++) {
      const res = await f.request("/login", { form: { password: `guess ${i}` } });
      assert.equal(res.status, 401);
      await res.body?.cancel();
    }
    const blocked = await f.request("/login", { form: { password: PASSWORD } });
    assert.equal(blocked.status, 429);
    assert.equal(blocked.headers.get("retry-after"), "300");
    assert.equal(blocked.headers.get("set-cookie"), null);
    assert.match(await blocked.text(), /Too many wrong passwords/);

    const other = await f.request("/login", { form: { password: PASSWORD }, from: "192.0.2.99" });
    assert.equal(other.status, 303, "another address is not blocked");

    f.clock.set("2026-06-15T10:05:01Z");
    const later = await f.request("/login", { form: { password: PASSWORD }, from: CLIENT });
    assert.equal(later.status, 303, "the block ends after 5 minutes");
  },
);

uiTest("wrong passwords 15 s apart (4 a minute) are never blocked", async (f) => {
  const start = Temporal.Instant.from("2026-06-15T10:00:00Z");
  for (let i = 0; i < 8; i++) {
    f.clock.set(start.add({ seconds: i * 15 }).toString());
    const res = await f.request("/login", { form: { password: "guess" } });
    assert.equal(res.status, 401);
    await res.body?.cancel();
  }
});

uiTest("a login posted from another site is refused", async (f) => {
  const res = await f.request("/login", {
    form: { password: PASSWORD },
    headers: { origin: "https://evil.example", host: "localhost" },
  });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get("set-cookie"), null);
  const fetchSite = await f.request("/login", {
    form: { password: PASSWORD },
    headers: { "sec-fetch-site": "cross-site" },
  });
  assert.equal(fetchSite.status, 403);
});

uiTest("after login only local paths are followed", async (f) => {
  for (const next of ["//evil.example/x", "https://evil.example", "/\\evil.example"]) {
    const res = await f.request("/login", { form: { password: PASSWORD, next } });
    assert.equal(res.headers.get("location"), "/keys", next);
  }
});

uiTest("logout ends the session and needs the CSRF token", async (f) => {
  await f.signIn();
  const cookie = f.cookie;
  const forged = await f.request("/logout", { form: {} });
  assert.equal(forged.status, 403);
  assert.equal((await f.request("/keys")).status, 200, "still signed in");
  const res = await f.post("/logout");
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/login");
  assert.match(res.headers.get("set-cookie")!, /llmq_session=;.*Max-Age=0/);
  f.cookie = cookie;
  assert.equal((await f.request("/keys")).status, 303, "the old cookie no longer works");
});

uiTest("a session ends after 30 minutes without a request", async (f) => {
  await f.signIn();
  f.clock.set("2026-06-15T10:29:00Z");
  assert.equal((await f.request("/keys")).status, 200, "used within 30 minutes: still valid");
  f.clock.set("2026-06-15T10:58:00Z");
  assert.equal((await f.request("/keys")).status, 200, "the idle timer restarted at 10:29");
  f.clock.set("2026-06-15T11:28:01Z");
  const res = await f.request("/keys");
  assert.equal(res.status, 303);
  assert.match(res.headers.get("location")!, /^\/login/);
});

uiTest("the JSON API takes the bearer password and not the session cookie", async (f) => {
  await f.signIn();
  const withCookie = await f.request("/api/api-keys");
  assert.equal(withCookie.status, 401);
  assert.match((await withCookie.json()).error, /Bearer/);
  const withBearer = await f.request("/api/api-keys", {
    anonymous: true,
    headers: { authorization: `Bearer ${PASSWORD}` },
  });
  assert.equal(withBearer.status, 200);
  assert.deepEqual(await withBearer.json(), []);
});

Deno.test("each session has its own CSRF token", async () => {
  const f = await startUi({ ADMIN_PASSWORD });
  try {
    const tokens = new Set<string>();
    for (let i = 0; i < 2; i++) {
      await (await f.request("/login", {
        form: { password: ADMIN_PASSWORD },
        anonymous: true,
      })).body?.cancel();
      tokens.add(csrfOf(await (await f.request("/keys")).text()));
    }
    assert.equal(tokens.size, 2);
  } finally {
    await f.close();
  }
});
