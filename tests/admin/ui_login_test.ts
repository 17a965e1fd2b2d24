import assert from "node:assert/strict";
import { safeNext } from "../../admin/ui_auth.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { CLIENT, csrfOf, PASSWORD, startUi, type UiFixture, uiTest } from "./ui_fixture.ts";

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
  assert.match(
    f.logs.join("\n"),
    /WARN admin credential wrong source="login" address="192.0.2.10"/,
  );
  assert.ok(!f.logs.join("\n").includes("guess"), "the tried password is never logged");
});

/** Sends `n` wrong passwords, each from another loopback address, and expects each `status`. */
async function guess(f: UiFixture, n: number, status: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await f.request("/login", {
      form: { password: `guess ${i}` },
      from: `127.0.${i >> 8 & 255}.${(i & 255) + 2}`,
      anonymous: true,
    });
    assert.equal(res.status, status, `guess ${i}`);
    await res.body?.cancel();
  }
}

uiTest("a few wrong passwords never keep the right one out", async (f) => {
  await guess(f, 10, 401);
  const res = await f.request("/login", { form: { password: PASSWORD } });
  assert.equal(res.status, 303);
});

uiTest(
  "wrong passwords from many addresses share one budget: then every login waits, unchecked",
  async (f) => {
    await guess(f, 11, 401); // the 11th exceeds the budget and locks checks for 1 s
    const blocked = await f.request("/login", { form: { password: PASSWORD }, from: CLIENT });
    assert.equal(blocked.status, 429);
    assert.equal(blocked.headers.get("retry-after"), "1");
    assert.equal(blocked.headers.get("set-cookie"), null);
    assert.match(await blocked.text(), /Too many wrong passwords were tried lately/);
    // Another address is no way around it.
    const other = await f.request("/login", { form: { password: PASSWORD }, from: "127.0.0.99" });
    assert.equal(other.status, 429);
    await other.body?.cancel();

    f.clock.set("2026-06-15T10:00:01Z");
    const later = await f.request("/login", { form: { password: PASSWORD } });
    assert.equal(later.status, 303, "the lock ends by itself");
  },
);

uiTest("wrong passwords a minute apart are never locked out", async (f) => {
  const start = Temporal.Instant.from("2026-06-15T10:00:00Z");
  for (let i = 0; i < 30; i++) {
    f.clock.set(start.add({ seconds: i * 60 }).toString());
    const res = await f.request("/login", { form: { password: "guess" } });
    assert.equal(res.status, 401, `guess ${i}`);
    await res.body?.cancel();
  }
});

uiTest(
  "a browser that signed in before may sign in during a lock; a guesser may not",
  async (f) => {
    const first = await f.request("/login", { form: { password: PASSWORD } });
    assert.equal(first.status, 303);
    const device = /llmq_device=([A-Za-z0-9_-]{43});/.exec(first.headers.get("set-cookie") ?? "");
    assert.ok(device, "a trusted-device cookie is set");
    assert.match(first.headers.get("set-cookie")!, /llmq_device=[^,]*Path=\/login; HttpOnly/);
    const trusted = { cookie: `llmq_device=${device[1]}` };
    await guess(f, 11, 401); // over the budget: checks are locked now
    await guess(f, 5, 429);

    const admin = await f.request("/login", {
      form: { password: PASSWORD },
      headers: trusted,
      anonymous: true,
    });
    assert.equal(admin.status, 303, "the trusted browser is checked and let in");
    const forged = await f.request("/login", {
      form: { password: PASSWORD },
      headers: { cookie: `llmq_device=${"A".repeat(43)}` },
      anonymous: true,
    });
    assert.equal(forged.status, 429, "a made-up device id is worth nothing");
    await forged.body?.cancel();

    // A trusted browser has its own small budget: 5 wrong passwords and its trust is gone.
    for (let i = 0; i < 5; i++) {
      const res = await f.request("/login", {
        form: { password: `wrong ${i}` },
        headers: trusted,
        anonymous: true,
      });
      assert.equal(res.status, 401, `trusted guess ${i}`);
      await res.body?.cancel();
    }
    const distrusted = await f.request("/login", {
      form: { password: PASSWORD },
      headers: trusted,
      anonymous: true,
    });
    assert.equal(distrusted.status, 429);
    await distrusted.body?.cancel();
  },
);

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

/** `next` values that lead off the site or into a broken Location header once a browser reads them. */
const HOSTILE_NEXT = [
  "//evil.example/x",
  "https://evil.example",
  "/\\evil.example",
  "/\t/evil.example", // browsers drop the tab: //evil.example
  "/\n/evil.example",
  "/\r\n/evil.example",
  "/keys\nSet-Cookie: x=1",
  "/keys\r\nLocation: //evil.example",
  "/..//evil.example", // resolves to //evil.example
  "/./%2e%2e//evil.example",
  "/a/../..//evil.example",
  "/keys\\..\\..\\evil",
  // Every other control character, C0, DEL and C1.
  ...Array.from({ length: 32 }, (_, i) => `/${String.fromCharCode(i)}/evil.example`),
  "/\u007f/evil.example",
  "/\u0085/evil.example",
  "/\u009f/evil.example",
  "/ /evil.example",
];

Deno.test("safeNext keeps only this site's paths and never yields an unusable Location", () => {
  for (const next of HOSTILE_NEXT) {
    assert.equal(safeNext(next), "/keys", JSON.stringify(next));
  }
  assert.equal(safeNext(undefined), "/keys");
  assert.equal(safeNext(""), "/keys");
  assert.equal(safeNext("/settings"), "/settings");
  assert.equal(safeNext("/keys?name=a%20b&status=active"), "/keys?name=a%20b&status=active");
  assert.equal(safeNext("/keys/../settings"), "/settings");
  // Non-ASCII is sent percent-encoded: a Location header holds bytes, not text.
  assert.equal(safeNext("/keys?name=Jürgen"), "/keys?name=J%C3%BCrgen");
  assert.equal(safeNext("/keys?name=日本"), "/keys?name=%E6%97%A5%E6%9C%AC");
});

uiTest("after login only local paths are followed, and no next answers 500", async (f) => {
  for (const next of HOSTILE_NEXT) {
    const res = await f.request("/login", { form: { password: PASSWORD, next } });
    assert.equal(res.status, 303, JSON.stringify(next));
    assert.equal(res.headers.get("location"), "/keys", JSON.stringify(next));
  }
  // Signed in now: GET /login follows `next` from the query string the same way.
  for (const next of HOSTILE_NEXT) {
    const res = await f.request(`/login?next=${encodeURIComponent(next)}`);
    assert.equal(res.status, 303, JSON.stringify(next));
    assert.equal(res.headers.get("location"), "/keys", JSON.stringify(next));
  }
  const res = await f.request("/login", { form: { password: PASSWORD, next: "/keys?name=日本" } });
  assert.equal(res.headers.get("location"), "/keys?name=%E6%97%A5%E6%9C%AC");
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
