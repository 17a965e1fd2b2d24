import { keyFields } from "../../core/api_keys.ts";
import { LIMIT_KINDS } from "../../core/limits.ts";
import { requestWindows } from "../../core/windows.ts";
import assert from "node:assert/strict";
import { type UiFixture, uiTest } from "./ui_fixture.ts";

const EVIL = "<script>alert(1)</script>";

uiTest("GET /keys shows the full page; htmx gets only the table", async (f) => {
  await f.signIn();
  await f.createKey({ name: "Alice" });
  const page = await (await f.request("/keys")).text();
  assert.match(page, /<!doctype html>/i);
  assert.match(page, /<title>API keys · llm-quota<\/title>/);
  assert.match(page, /id="create-key"/);
  assert.match(page, /aria-current="page">Keys</);
  const fragment = await (await f.request("/keys", { htmx: true })).text();
  assert.doesNotMatch(fragment, /<html|<title|id="create-key"/);
  assert.match(fragment, /^<div id="key-table">/);
  assert.match(fragment, /Alice/);
});

uiTest("a boosted or history-restore htmx request still gets the full page", async (f) => {
  await f.signIn();
  for (const header of ["hx-boosted", "hx-history-restore-request"]) {
    const res = await f.request("/keys", { htmx: true, headers: { [header]: "true" } });
    assert.match(await res.text(), /<!doctype html>/i, header);
  }
});

uiTest("creating a key shows its plaintext once, with a copy button and a warning", async (f) => {
  await f.signIn();
  const res = await f.post("/keys", { name: "Alice", daily_request_limit: "2" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const html = await res.text();
  const key = /<input id="new-key"[^>]* value="(sk-[A-Za-z0-9_-]+)"/.exec(html)?.[1];
  assert.ok(key, "the plaintext is on the page");
  assert.match(html, /it will not be shown again/);
  assert.match(html, /<button type="button" class="btn secondary small copy" data-copy="new-key"/);
  const stored = keyFields((await f.deps.store.listKeys())[0]);
  assert.equal(stored.name, "Alice");
  assert.equal(stored.daily_request_limit, 2);
  assert.equal(stored.monthly_request_limit, null, "an empty limit is unlimited");
  assert.equal(stored.expires_at, null);

  const later = await (await f.request("/keys")).text();
  assert.ok(!later.includes(key), "never shown again");
  assert.ok(later.includes(stored.prefix));
  assert.equal((await f.chat(key)).status, 200, "the key works against the proxy");
});

uiTest("an htmx create answers the create section and swaps the list out of band", async (f) => {
  await f.signIn();
  const res = await f.post("/keys", { name: "Bob" }, { htmx: true });
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /^<section id="create-key"/);
  assert.match(html, /value="sk-/);
  assert.match(html, /<section id="key-list" class="card" [^>]*hx-swap-oob="true"/);
  assert.doesNotMatch(html, /<html/);
});

uiTest("create errors show next to their fields with the entered values kept", async (f) => {
  await f.signIn();
  const form = {
    name: "  ",
    expires_on: "2026-02-30",
    daily_request_limit: "-3",
    monthly_request_limit: "12",
    daily_token_limit: "1.5",
    monthly_token_limit: "",
  };
  const res = await f.post("/keys", form);
  assert.equal(res.status, 422);
  const html = await res.text();
  assert.match(html, /id="name-error">Give the key a name</);
  assert.match(html, /id="expires_on-error">Enter a date such as 2026-12-31/);
  assert.match(html, /id="daily_request_limit-error">Enter a whole number of 0 or more/);
  assert.match(html, /id="daily_token_limit-error">Enter a whole number/);
  assert.doesNotMatch(html, /monthly_request_limit-error/);
  assert.match(html, /name="daily_request_limit" type="number" value="-3"/);
  assert.match(html, /name="monthly_request_limit" type="number" value="12"/);
  assert.match(html, /name="expires_on" type="date" value="2026-02-30"/);
  assert.match(html, /aria-invalid="true" aria-describedby="name-error name-hint"/);
  assert.equal((await f.deps.store.listKeys()).length, 0);

  const fragment = await f.post("/keys", form, { htmx: true });
  assert.equal(fragment.status, 422);
  assert.match(await fragment.text(), /^<section id="create-key"[\s\S]*Give the key a name/);
});

uiTest("a key named <script>alert(1)</script> is escaped wherever it appears", async (f) => {
  await f.signIn();
  const created = await f.post("/keys", { name: EVIL });
  const pages = [await created.text()];
  const { id } = (await f.deps.store.listKeys())[0];
  for (const path of ["/keys", `/keys/${id}/edit`, `/keys/${id}/delete`]) {
    pages.push(await (await f.request(path)).text());
    pages.push(await (await f.request(path, { htmx: true })).text());
  }
  pages.push(await (await f.post(`/keys/${id}/deactivate`, {}, { htmx: true })).text());
  pages.push(
    await (await f.post(`/keys/${id}`, { daily_request_limit: "x" }, { htmx: true }))
      .text(),
  );
  pages.push(await (await f.post(`/keys/${id}/delete`, {}, { htmx: true })).text());
  for (const html of pages) {
    assert.ok(!html.includes(EVIL), "never raw");
    assert.ok(!html.includes("<script>alert"), "never raw");
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  }
});

uiTest("state-changing requests without the session's CSRF token are refused", async (f) => {
  await f.signIn();
  const { id } = await f.createKey({ name: "Alice" });
  const actions: Array<[string, Record<string, string>]> = [
    ["/keys", { name: "Mallory" }],
    [`/keys/${id}`, { daily_request_limit: "1" }],
    [`/keys/${id}/deactivate`, {}],
    [`/keys/${id}/delete`, {}],
    ["/settings", { ollama_url: "http://127.0.0.1:9", default_model: "evil" }],
    ["/settings/test", { ollama_url: "http://127.0.0.1:9" }],
  ];
  for (const [path, form] of actions) {
    const missing = await f.request(path, { form });
    assert.equal(missing.status, 403, `${path} without a token`);
    assert.match(await missing.text(), /did not come from this admin page/);
    const wrong = await f.request(path, { form: { ...form, _csrf: "forged" } });
    assert.equal(wrong.status, 403, `${path} with a wrong token`);
    await wrong.body?.cancel();
    const crossSite = await f.post(path, form, { headers: { "sec-fetch-site": "cross-site" } });
    assert.equal(crossSite.status, 403, `${path} from another site`);
    await crossSite.body?.cancel();
    const otherOrigin = await f.post(path, form, {
      headers: { origin: "http://evil.example", host: "127.0.0.1:8001" },
    });
    assert.equal(otherOrigin.status, 403, `${path} from another origin`);
    await otherOrigin.body?.cancel();
  }
  const keys = (await f.deps.store.listKeys()).map(keyFields);
  assert.deepEqual(keys.map((k) => [k.name, k.active, k.daily_request_limit]), [
    ["Alice", true, null],
  ]);
  assert.equal((await f.deps.settings.get()).default_model, "llama3");
});

uiTest("the CSRF token is accepted from the X-CSRF-Token header that htmx sends", async (f) => {
  await f.signIn();
  const { id } = await f.createKey({ name: "Alice" });
  const res = await f.request(`/keys/${id}/deactivate`, {
    method: "POST",
    htmx: true,
    headers: { "x-csrf-token": f.csrf! },
  });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /^<tbody id="key-\d+" >[\s\S]*Deactivated/);
});

uiTest("a CSRF refusal from htmx lands in the flash area", async (f) => {
  await f.signIn();
  const res = await f.request("/keys", { form: { name: "x" }, htmx: true });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get("hx-retarget"), "#flash");
  assert.equal(res.headers.get("hx-reswap"), "innerHTML");
  assert.match(await res.text(), /^<div class="notice error" role="alert">/);
});

uiTest("the keys page shows usage against limits, amber near and red at the limit", async (f) => {
  await f.signIn();
  const a = await f.createKey({ name: "Alice", daily_request_limit: "2" });
  const b = await f.createKey({ name: "Bob", daily_request_limit: "5" });
  for (const key of [a.key, a.key, b.key, b.key, b.key, b.key]) {
    assert.equal((await f.chat(key)).status, 200);
  }
  const html = await (await f.request("/keys")).text();
  const alice =
    /<tbody id="key-\d+" >(?:(?!<\/tbody>)[\s\S])*?Alice[\s\S]*?<\/tbody>/.exec(html)![0];
  assert.match(alice, /<div class="usage full">[\s\S]*?aria-label="2 of 2 requests"/);
  assert.match(alice, /2 \/ 2/);
  assert.match(alice, /class="fill w100"/);
  assert.match(alice, /just now/);
  const bob = /<tbody id="key-\d+" >(?:(?!<\/tbody>)[\s\S])*?Bob[\s\S]*?<\/tbody>/.exec(html)![0];
  assert.match(bob, /<div class="usage near">[\s\S]*?4 \/ 5/);
  assert.match(bob, /class="fill w80"/);
  assert.match(bob, /Requests[\s\S]*?4 <span class="muted">\/ unlimited/, "the month has no limit");
  assert.equal((await f.chat(a.key)).status, 429, "the third call is refused");
});

uiTest("keys can be filtered by name and status", async (f) => {
  await f.signIn();
  await f.createKey({ name: "Alice laptop" });
  const { id } = await f.createKey({ name: "Bob phone" });
  await f.createKey({ name: "alice CI", expires_on: "2026-06-01", confirm: "past-expiry" });
  await (await f.post(`/keys/${id}/deactivate`)).body?.cancel();
  const names = async (query: string) => {
    const html = await (await f.request(`/keys${query}`, { htmx: true })).text();
    return [...html.matchAll(/<a class="key-name" href="\/keys\/\d+">([^<]+)</g)].map((m) => m[1]);
  };
  assert.deepEqual(await names(""), ["Alice laptop", "Bob phone", "alice CI"]);
  assert.deepEqual(await names("?name=ALICE"), ["Alice laptop", "alice CI"]);
  assert.deepEqual(await names("?status=expired"), ["alice CI"]);
  assert.deepEqual(await names("?status=deactivated"), ["Bob phone"]);
  assert.deepEqual(await names("?name=alice&status=active"), ["Alice laptop"]);
  assert.deepEqual(await names("?status=bogus"), ["Alice laptop", "Bob phone", "alice CI"]);
  const none = await (await f.request("/keys?name=zed", { htmx: true })).text();
  assert.match(none, /No key matches this filter/);
  const page = await (await f.request("/keys?name=bob&status=deactivated")).text();
  assert.match(page, /name="name" type="search" placeholder="Filter by name" value="bob"/);
  assert.match(page, /<option value="deactivated" selected>/);
});

uiTest("limits and expiry are edited inline; empty means unlimited", async (f) => {
  await f.signIn();
  const { id, key } = await f.createKey({ name: "Alice", daily_request_limit: "1" });
  assert.equal((await f.chat(key)).status, 200);
  assert.equal((await f.chat(key)).status, 429);

  const edit = await (await f.request(`/keys/${id}/edit`, { htmx: true })).text();
  assert.match(edit, /^<tbody id="key-\d+" class="editing">/);
  assert.match(edit, /<form method="post" action="\/keys\/\d+"/);
  assert.match(edit, /name="daily_request_limit" type="number" value="1"/);

  const res = await f.post(`/keys/${id}`, {
    expires_on: "2026-12-31",
    daily_request_limit: "",
    monthly_request_limit: "10",
    daily_token_limit: "",
    monthly_token_limit: "",
  }, { htmx: true });
  assert.equal(res.status, 200);
  const row = await res.text();
  assert.match(row, /^<tbody id="key-\d+" >/);
  assert.match(row, /Valid through 31 Dec 2026/);
  const stored = keyFields((await f.deps.store.getKey(id))!);
  assert.equal(stored.daily_request_limit, null);
  assert.equal(stored.monthly_request_limit, 10);
  // Through the last day in Europe/Berlin: it ends at midnight there, 23:00 UTC in winter.
  assert.equal(stored.expires_at, "2026-12-31T23:00:00.000Z");
  assert.equal((await f.chat(key)).status, 200, "the raised limit applies at once");
});

uiTest(
  "an edit without JavaScript shows the edit form in the page and redirects after",
  async (f) => {
    await f.signIn();
    const { id } = await f.createKey({ name: "Alice" });
    const page = await (await f.request(`/keys/${id}/edit`)).text();
    assert.match(page, /<!doctype html>/i);
    assert.match(page, /class="editing"/);
    assert.match(page, new RegExp(`id="key-${id}-daily_request_limit"`));
    const res = await f.post(`/keys/${id}`, { daily_token_limit: "5000" });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/keys");
    assert.equal(keyFields((await f.deps.store.getKey(id))!).daily_token_limit, 5000);
  },
);

uiTest("edit errors keep the entered values and change nothing", async (f) => {
  await f.signIn();
  const { id } = await f.createKey({ name: "Alice", daily_request_limit: "7" });
  const form = { daily_request_limit: "lots", expires_on: "31/12/2026", monthly_token_limit: "9" };
  const res = await f.post(`/keys/${id}`, form);
  assert.equal(res.status, 422);
  const html = await res.text();
  assert.match(html, /<!doctype html>/i);
  assert.match(html, new RegExp(`id="key-${id}-daily_request_limit-error">Enter a whole number`));
  assert.match(html, new RegExp(`id="key-${id}-expires_on-error">Enter a date`));
  assert.match(html, /name="daily_request_limit" type="number" value="lots"/);
  assert.match(html, /name="monthly_token_limit" type="number" value="9"/);
  const htmx = await f.post(`/keys/${id}`, form, { htmx: true });
  assert.equal(htmx.status, 422);
  assert.match(await htmx.text(), /^<tbody id="key-\d+" class="editing">[\s\S]*field-error/);
  const stored = keyFields((await f.deps.store.getKey(id))!);
  assert.equal(stored.daily_request_limit, 7);
  assert.equal(stored.monthly_token_limit, null);
});

uiTest("saving limits keeps an expiry set to a time of day through the API", async (f) => {
  await f.signIn();
  const { id } = await f.createKey({ name: "Alice" });
  await f.deps.store.updateKey(id, { expires_at: "2026-09-01T12:30:00.000Z" });
  const edit = await (await f.request(`/keys/${id}/edit`, { htmx: true })).text();
  assert.match(edit, /name="expires_on" type="date" value="2026-09-01"/);
  await (await f.post(`/keys/${id}`, { expires_on: "2026-09-01", daily_request_limit: "3" }))
    .body?.cancel();
  const stored = keyFields((await f.deps.store.getKey(id))!);
  assert.equal(stored.expires_at, "2026-09-01T12:30:00.000Z");
  assert.equal(stored.daily_request_limit, 3);
  await (await f.post(`/keys/${id}`, { expires_on: "" })).body?.cancel();
  assert.equal((await f.deps.store.getKey(id))!.expires_at, null, "emptied: never expires");
});

uiTest("deactivate and activate switch the key off and on for the proxy", async (f) => {
  await f.signIn();
  const { id, key } = await f.createKey({ name: "Alice" });
  const off = await f.post(`/keys/${id}/deactivate`);
  assert.equal(off.status, 303);
  assert.equal((await f.chat(key)).status, 401);
  const page = await (await f.request("/keys")).text();
  assert.match(page, /badge deactivated">Deactivated/);
  assert.match(page, new RegExp(`action="/keys/${id}/activate"[\\s\\S]*?>Activate<`));
  const on = await f.post(`/keys/${id}/activate`, {}, { htmx: true });
  assert.equal(on.status, 200);
  assert.match(await on.text(), /badge active">Active/);
  assert.equal((await f.chat(key)).status, 200);
});

uiTest("delete asks first: a confirmation page without JS, hx-confirm with htmx", async (f) => {
  await f.signIn();
  const { id, key } = await f.createKey({ name: "Alice" });
  const list = await (await f.request("/keys")).text();
  assert.match(
    list,
    new RegExp(`href="/keys/${id}/delete" hx-post="/keys/${id}/delete" hx-confirm="Delete the key`),
  );
  const confirm = await f.request(`/keys/${id}/delete`);
  assert.equal(confirm.status, 200);
  const html = await confirm.text();
  assert.match(html, /Delete the key “Alice”\?/);
  assert.match(html, new RegExp(`<form method="post" action="/keys/${id}/delete"`));
  assert.equal((await f.deps.store.listKeys()).length, 1, "showing the question deletes nothing");

  const res = await f.post(`/keys/${id}/delete`);
  assert.equal(res.status, 303);
  assert.equal(await f.deps.store.getKey(id), null);
  assert.equal((await f.chat(key)).status, 401);
});

uiTest("an htmx delete removes the rows and says so in the flash area", async (f) => {
  await f.signIn();
  const { id } = await f.createKey({ name: "Alice" });
  const res = await f.post(`/keys/${id}/delete`, {}, { htmx: true });
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /^<div id="flash" aria-live="polite" hx-swap-oob="true">/);
  assert.match(html, /Key “Alice” deleted/);
  assert.doesNotMatch(html, /<tbody/);
});

uiTest("actions on a missing key answer 404, never 500", async (f) => {
  await f.signIn();
  for (const path of ["/keys/999/edit", "/keys/999/delete", "/keys/abc/edit", "/keys/-1/row"]) {
    const res = await f.request(path);
    assert.equal(res.status, 404, path);
    const html = await res.text();
    assert.match(html, /This key does not exist/);
    assert.doesNotMatch(html, /at file:|Error:/);
  }
  for (const path of ["/keys/999", "/keys/999/activate", "/keys/999/delete", "/keys/0/delete"]) {
    const res = await f.post(path, { daily_request_limit: "1" }, { htmx: true });
    assert.equal(res.status, 404, path);
    assert.equal(res.headers.get("hx-retarget"), "#flash");
    await res.body?.cancel();
  }
});

uiTest("a form posted as JSON or with odd fields is a validation error, not a crash", async (f) => {
  await f.signIn();
  const json = await f.request("/keys", {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": f.csrf! },
  });
  assert.equal(json.status, 422);
  assert.match(await json.text(), /Give the key a name/);
  const huge = await f.post("/keys", {
    name: "x".repeat(201),
    daily_request_limit: "9".repeat(30),
  });
  assert.equal(huge.status, 422);
  const html = await huge.text();
  assert.match(html, /Use at most 200 characters/);
  assert.match(html, /This number is too large/);
});

/** The rows of the key named `name` in a keys page. */
function rowsOf(html: string, name: string): string {
  const re = new RegExp(
    `<tbody id="key-\\d+" [^>]*>(?:(?!</tbody>)[\\s\\S])*?${name}[\\s\\S]*?</tbody>`,
  );
  return re.exec(html)?.[0] ?? "";
}

uiTest("a past expiry date on a new key is asked about before the key is created", async (f) => {
  await f.signIn();
  // The fixture's clock stands at 15 Jun 2026.
  const form = { name: "Typo", expires_on: "2025-06-30", daily_request_limit: "5" };
  const asked = await f.post("/keys", form);
  assert.equal(asked.status, 422);
  const html = await asked.text();
  assert.match(
    html,
    /id="expires_on-warning">30 Jun 2025 is in the past: the key would be expired/,
  );
  assert.match(html, /aria-describedby="expires_on-warning expires_on-hint"/);
  assert.match(
    html,
    /<button type="submit" class="btn secondary" name="confirm" value="past-expiry">Create it expired</,
  );
  assert.match(html, /name="daily_request_limit" type="number" value="5"/, "values kept");
  assert.doesNotMatch(html, /value="sk-/);
  assert.equal((await f.deps.store.listKeys()).length, 0, "nothing created yet");

  const htmx = await f.post("/keys", form, { htmx: true });
  assert.equal(htmx.status, 422);
  assert.match(await htmx.text(), /^<section id="create-key"[\s\S]*expires_on-warning/);

  const today = await f.post("/keys", { name: "Today", expires_on: "2026-06-15" });
  assert.equal(today.status, 200, "a key valid through today is not past");
  assert.doesNotMatch(await today.text(), /expires_on-warning/);

  const confirmed = await f.post("/keys", { ...form, confirm: "past-expiry" });
  assert.equal(confirmed.status, 200);
  const created = await confirmed.text();
  assert.match(created, /Key created for “Typo”/);
  assert.match(rowsOf(created, "Typo"), /badge expired">Expired[\s\S]*Expired on 30 Jun 2025/);
});

uiTest("a past date chosen in the edit form is asked about; an old one is not", async (f) => {
  await f.signIn();
  const { id, key } = await f.createKey({ name: "Alice", expires_on: "2026-12-31" });
  const form = { name: "Alice", expires_on: "2026-06-14", daily_request_limit: "" };
  for (const htmx of [false, true]) {
    const asked = await f.post(`/keys/${id}`, form, { htmx });
    assert.equal(asked.status, 422);
    const html = await asked.text();
    assert.match(html, new RegExp(`id="key-${id}-expires_on-warning">14 Jun 2026 is in the past`));
    assert.match(html, /value="past-expiry">Save with this date</);
    assert.match(html, /class="editing"/);
  }
  assert.equal((await f.deps.store.getKey(id))!.expires_at, "2026-12-31T23:00:00.000Z");
  assert.equal((await f.chat(key)).status, 200, "the key still works");

  const saved = await f.post(`/keys/${id}`, { ...form, confirm: "past-expiry" }, { htmx: true });
  assert.equal(saved.status, 200);
  assert.match(await saved.text(), /Expired on 14 Jun 2026/);
  assert.equal((await f.chat(key)).status, 401, "ended at once");

  // The date is unchanged now: changing a limit of the expired key asks nothing.
  const limits = await f.post(`/keys/${id}`, { ...form, daily_request_limit: "3" });
  assert.equal(limits.status, 303);
  assert.equal(keyFields((await f.deps.store.getKey(id))!).daily_request_limit, 3);
});

uiTest("a key is renamed in its edit form; an empty name is refused", async (f) => {
  await f.signIn();
  const { id, key } = await f.createKey({ name: "Alice", daily_request_limit: "4" });
  const edit = await (await f.request(`/keys/${id}/edit`, { htmx: true })).text();
  assert.match(edit, new RegExp(`<label for="key-${id}-name">Name</label>`));
  assert.match(edit, /name="name" type="text" value="Alice" required/);

  const empty = await f.post(`/keys/${id}`, { name: "  ", daily_request_limit: "4" }, {
    htmx: true,
  });
  assert.equal(empty.status, 422);
  assert.match(await empty.text(), new RegExp(`id="key-${id}-name-error">Give the key a name`));
  assert.equal((await f.deps.store.getKey(id))!.name, "Alice");

  const renamed = await f.post(`/keys/${id}`, {
    name: " Alice's laptop ",
    daily_request_limit: "4",
  }, { htmx: true });
  assert.equal(renamed.status, 200);
  assert.match(
    await renamed.text(),
    /<a class="key-name" href="\/keys\/\d+">Alice&#39;s laptop<\/a>/,
  );
  const stored = keyFields((await f.deps.store.getKey(id))!);
  assert.equal(stored.name, "Alice's laptop");
  assert.equal(stored.daily_request_limit, 4);
  assert.equal((await f.chat(key)).status, 200, "the same key, only renamed");

  // A form without the field (an older page) leaves the name alone.
  await (await f.post(`/keys/${id}`, { daily_request_limit: "4" })).body?.cancel();
  assert.equal((await f.deps.store.getKey(id))!.name, "Alice's laptop");
});

uiTest("a deactivated key past its expiry says when it expired", async (f) => {
  await f.signIn();
  const { id } = await f.createKey({
    name: "Old",
    expires_on: "2020-01-01",
    confirm: "past-expiry",
  });
  await (await f.post(`/keys/${id}/deactivate`)).body?.cancel();
  const { id: later } = await f.createKey({ name: "Later", expires_on: "2027-01-01" });
  await (await f.post(`/keys/${later}/deactivate`)).body?.cancel();
  const html = await (await f.request("/keys")).text();
  const old = rowsOf(html, "Old");
  assert.match(old, /badge deactivated">Deactivated/);
  assert.match(old, /Expired on 1 Jan 2020/);
  assert.doesNotMatch(old, /Valid through/);
  assert.match(rowsOf(html, "Later"), /Valid through 1 Jan 2027/, "a future date stays as it is");
});

uiTest("counts in the keys table agree with their noun", async (f) => {
  await f.signIn();
  const { key } = await f.createKey({ name: "Alice", daily_request_limit: "1" });
  assert.equal((await f.chat(key)).status, 200);
  const html = rowsOf(await (await f.request("/keys")).text(), "Alice");
  assert.match(html, /aria-label="1 of 1 request"/, "today");
  assert.match(html, /title="1 request, no limit"/, "this month");
  assert.doesNotMatch(html, /\b1 (requests|tokens)\b/);
});

/** Every policy field of the forms with a valid value, and the stored value it becomes. */
const POLICY_FORM: Record<string, string> = {
  daily_request_limit: "10",
  monthly_request_limit: "200",
  daily_token_limit: "5000",
  monthly_token_limit: "90000",
  requests_per_minute: "3",
  tokens_per_minute: "1000",
  max_concurrent: "2",
  models: " llama3,qwen3:*\n phi3  llama3 ",
  max_output_tokens: "256",
  max_num_ctx: "4096",
  idle_days: "30",
};
const POLICY_STORED: Record<string, unknown> = {
  ...Object.fromEntries(LIMIT_KINDS.map((k) => [k.field, Number(POLICY_FORM[k.field])])),
  models: ["llama3", "qwen3:*", "phi3"],
  max_output_tokens: 256,
  max_num_ctx: 4096,
  idle_days: 30,
};
const POLICY_NAMES = Object.keys(POLICY_STORED);

/** The policy fields of a stored key, flat. */
async function storedPolicy(f: UiFixture, id: number): Promise<Record<string, unknown>> {
  const k = keyFields((await f.deps.store.getKey(id))!) as unknown as Record<string, unknown>;
  return Object.fromEntries(POLICY_NAMES.map((name) => [name, k[name]]));
}

uiTest("every policy field is set through the create form, with and without htmx", async (f) => {
  await f.signIn();
  assert.deepEqual(POLICY_NAMES.sort(), [...Object.keys(POLICY_FORM)].sort(), "one per field");
  for (const htmx of [false, true]) {
    const res = await f.post("/keys", { name: `Batch ${htmx}`, ...POLICY_FORM }, { htmx });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /value="sk-/);
    const key = (await f.deps.store.listKeys()).find((k) => k.name === `Batch ${htmx}`)!;
    assert.deepEqual(await storedPolicy(f, key.id), POLICY_STORED, `htmx: ${htmx}`);
  }
  // The policy applies at once: a model off the list is refused.
  const { key } = await f.createKey({ name: "Only llama3", models: "llama3" });
  assert.equal((await f.chat(key)).status, 200);
  const refused = await f.chat(key, { model: "llama3.2" });
  assert.equal(refused.status, 403);
  assert.match((await refused.json()).error, /llama3\.2/);
});

uiTest(
  "a key created with empty policy fields has no limits and may use every model",
  async (f) => {
    await f.signIn();
    const empty = Object.fromEntries(Object.keys(POLICY_FORM).map((name) => [name, " "]));
    const { id: blank } = await f.createKey({ name: "Blank", ...empty });
    const { id: absent } = await f.createKey({ name: "Absent" });
    for (const id of [blank, absent]) {
      const stored = await storedPolicy(f, id);
      assert.deepEqual(stored, Object.fromEntries(POLICY_NAMES.map((n) => [n, null])));
    }
  },
);

uiTest(
  "the create form offers every policy field, grouped, folded while none is set",
  async (f) => {
    await f.signIn();
    const html = await (await f.request("/keys")).text();
    const create = /<section id="create-key"[\s\S]*?<\/section>/.exec(html)![0];
    for (const kind of LIMIT_KINDS) {
      assert.match(create, new RegExp(`<label for="${kind.field}">${kind.label}</label>`));
    }
    assert.match(create, /<label for="models">Allowed models<\/label>\s*<textarea id="models"/);
    assert.match(create, /Empty = every model/);
    for (const name of ["max_output_tokens", "max_num_ctx", "idle_days"]) {
      assert.match(create, new RegExp(`name="${name}" type="number"`));
    }
    assert.deepEqual(
      [...create.matchAll(/<legend>([^<]+)<\/legend>/g)].map((m) => m[1]),
      ["Limits", "Models", "Rate", "Caps"],
    );
    assert.match(create, /<details class="policy-more"\s*><summary>Models, rate and caps/);
    assert.match(create, /\(none set\)/);
    // A form sent back with a value in the folded part shows it unfolded.
    const res = await f.post("/keys", { name: "", requests_per_minute: "5" });
    assert.equal(res.status, 422);
    assert.match(await res.text(), /<details class="policy-more" open>[\s\S]*?\(1 set\)/);
  },
);

uiTest("policy field errors show next to each field with the values kept", async (f) => {
  await f.signIn();
  const bad: Record<string, [string, RegExp]> = {
    requests_per_minute: ["-1", /Enter a whole number of 0 or more/],
    tokens_per_minute: ["1.5", /Enter a whole number of 0 or more/],
    max_concurrent: ["9".repeat(30), /This number is too large/],
    max_output_tokens: ["0", /Enter a whole number of 1 or more, or leave empty for no cap/],
    max_num_ctx: ["big", /Enter a whole number of 1 or more/],
    idle_days: ["-7", /Enter a whole number of 1 or more/],
    models: ["llama3, qwen*", /“qwen\*”: a \* stands only for a whole tag, as in qwen3:\*/],
  };
  const form = Object.fromEntries(Object.entries(bad).map(([name, [value]]) => [name, value]));
  const { id } = await f.createKey({ name: "Alice", requests_per_minute: "7" });
  for (const htmx of [false, true]) {
    for (const [path, prefix] of [["/keys", ""], [`/keys/${id}`, `key-${id}-`]]) {
      const res = await f.post(path, { name: "Bob", ...form }, { htmx });
      assert.equal(res.status, 422, `${path} htmx: ${htmx}`);
      const html = await res.text();
      for (const [name, [value, message]] of Object.entries(bad)) {
        const error = new RegExp(`id="${prefix}${name}-error">([^<]*)<`).exec(html)?.[1];
        assert.match(error ?? "", message, `${path} ${name}`);
        const escaped = value.replaceAll("&", "&amp;");
        assert.ok(
          html.includes(`name="${name}" type="number" value="${escaped}"`) ||
            html.includes(`name="${name}" rows="2"`) && html.includes(`>${escaped}</textarea>`),
          `${path} keeps ${name}`,
        );
      }
      assert.match(html, /<details class="policy-more" open>/, "unfolded to show the errors");
    }
  }
  assert.equal((await f.deps.store.listKeys()).length, 1, "nothing created");
  assert.equal((await storedPolicy(f, id)).requests_per_minute, 7, "nothing changed");
});

uiTest("the models field refuses what would match nothing and says what to write", async (f) => {
  await f.signIn();
  const cases: Array<[string, RegExp]> = [
    ["*", /Leave the field empty to allow every model/],
    ["llama3:7b*", /a \* stands only for a whole tag/],
    ["llama3;rm", /“llama3;rm” is not a model name/],
    ["x".repeat(601), /is too long for a model name/],
    [Array.from({ length: 1001 }, (_, i) => `m${i}`).join(","), /Name at most 1,000 models/],
  ];
  for (const [value, message] of cases) {
    const res = await f.post("/keys", { name: "Alice", models: value }, { htmx: true });
    assert.equal(res.status, 422, value.slice(0, 20));
    assert.match(/id="models-error">([^<]*)</.exec(await res.text())?.[1] ?? "", message);
  }
  const ok = ["hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M", "registry.ollama.ai/library/llama3"];
  const { id } = await f.createKey({ name: "Alice", models: ok.join("\n") });
  assert.deepEqual((await storedPolicy(f, id)).models, ok);
});

uiTest("policy fields are edited inline; emptied means none, absent means unchanged", async (f) => {
  await f.signIn();
  const { id, key } = await f.createKey({ name: "Alice", ...POLICY_FORM });
  const edit = await (await f.request(`/keys/${id}/edit`, { htmx: true })).text();
  assert.match(edit, /<details class="policy-more" open>[\s\S]*?\(7 set\)/);
  assert.match(edit, />llama3, qwen3:\*, phi3<\/textarea>/);
  for (const name of POLICY_NAMES.filter((n) => n !== "models")) {
    assert.match(edit, new RegExp(`name="${name}" type="number" value="${POLICY_STORED[name]}"`));
  }

  // Without JavaScript: a redirect back to the list.
  const changed = { ...POLICY_FORM, requests_per_minute: "9", models: "llama3.2:*", idle_days: "" };
  const plain = await f.post(`/keys/${id}`, changed);
  assert.equal(plain.status, 303);
  assert.deepEqual(await storedPolicy(f, id), {
    ...POLICY_STORED,
    requests_per_minute: 9,
    models: ["llama3.2:*"],
    idle_days: null,
  });
  assert.equal((await f.chat(key)).status, 403, "llama3 is no longer allowed");
  assert.equal((await f.chat(key, { model: "llama3.2" })).status, 200);

  // With htmx: the key's rows; every field emptied removes every limit and cap.
  const emptied = Object.fromEntries(Object.keys(POLICY_FORM).map((name) => [name, ""]));
  const res = await f.post(`/keys/${id}`, emptied, { htmx: true });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /^<tbody id="key-\d+" >[\s\S]*No rate limits/);
  assert.deepEqual(
    await storedPolicy(f, id),
    Object.fromEntries(POLICY_NAMES.map((n) => [n, null])),
  );

  // A form without the policy fields (a page from before they existed) changes none of them.
  await f.post(`/keys/${id}`, POLICY_FORM).then((r) => r.body?.cancel());
  await f.post(`/keys/${id}`, { name: "Alice B" }).then((r) => r.body?.cancel());
  assert.deepEqual(await storedPolicy(f, id), POLICY_STORED);
  assert.equal((await f.deps.store.getKey(id))!.name, "Alice B");
});

uiTest("the keys table shows this minute's and in-flight usage against their limits", async (f) => {
  await f.signIn();
  const { id, key } = await f.createKey({
    name: "Batch",
    requests_per_minute: "3",
    tokens_per_minute: "1000",
    max_concurrent: "2",
  });
  await f.createKey({ name: "Plain", daily_request_limit: "5" });
  for (let i = 0; i < 2; i++) assert.equal((await f.chat(key)).status, 200);
  // One stream held open: in flight until it is read to the end or left.
  f.mock.set({ chunks: 1000, chunkDelayMs: 10 });
  const stream = await f.chat(key, { stream: true });
  assert.equal(stream.status, 200);
  const html = await (await f.request("/keys")).text();
  const batch = rowsOf(html, "Batch");
  const now = /<td class="usage-cell usage-now" data-label="Now">[\s\S]*?<\/td>/.exec(batch)![0];
  const labels = [...now.matchAll(/<span class="usage-label">([^<]+)</g)].map((m) => m[1]);
  assert.deepEqual(labels, ["Requests/min", "Tokens/min", "Running"]);
  assert.match(now, /<div class="usage full">[\s\S]*?aria-label="3 of 3 requests this minute"/);
  assert.match(now, /aria-label="[\d,]+ of 1,000 tokens this minute"/);
  assert.match(now, /<div class="usage ok">[\s\S]*?aria-label="1 of 2 requests running now"/);
  assert.match(now, /1 \/ 2/);
  assert.match(
    batch,
    /data-label="Today">[\s\S]*?Requests[\s\S]*?3 <span class="muted">\/ unlimited/,
  );
  const plain = rowsOf(html, "Plain");
  assert.match(
    plain,
    /<td class="usage-cell usage-now none" data-label="Now">[\s\S]*No rate limits/,
  );
  assert.match(
    html,
    /<th scope="col">Today<\/th><th scope="col">This month<\/th><th scope="col">Now<\/th>/,
  );

  await stream.body?.cancel();
  // The stream the client left is settled (in the background), and its slot freed.
  const minute = requestWindows(f.clock.now(), f.deps.config.timeZone).minute;
  for (let i = 0; i < 100; i++) {
    if (!(await f.deps.store.liveUsageByKey(minute)).get(id)?.inFlight) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await f.mock.idle();
  // A minute later the minute's bars start again; the in-flight one is empty.
  f.clock.set("2026-06-15T10:01:00Z");
  const later = rowsOf(await (await f.request("/keys")).text(), "Batch");
  assert.match(later, /aria-label="0 of 3 requests this minute"/);
  assert.match(later, /aria-label="0 of 2 requests running now"/);
});

uiTest("an idle key says since when and how long unused; Reactivate restarts it", async (f) => {
  await f.signIn();
  // Made on 15 Jun, used on 20 Jun; 30 unused days end on 20 Jul.
  const { id, key } = await f.createKey({ name: "Old CI", idle_days: "30" });
  f.clock.set("2026-06-20T09:00:00Z");
  assert.equal((await f.chat(key)).status, 200);
  f.clock.set("2026-07-27T12:00:00Z");
  await f.signIn();
  assert.equal((await f.chat(key)).status, 401, "idle keys are refused");
  for (const htmx of [false, true]) {
    const html = rowsOf(await (await f.request("/keys", { htmx })).text(), "Old CI");
    assert.match(html, /<span class="badge idle">Idle too long<\/span>/);
    assert.match(
      html,
      /<span>Idle since 20 Jul 2026,<\/span> <span>unused for 37 days<\/span>/,
    );
    assert.doesNotMatch(html, /No expiry/, "the idle clock says more");
    assert.match(html, new RegExp(`action="/keys/${id}/activate"[\\s\\S]*?>Reactivate<`));
    assert.doesNotMatch(html, /Deactivate/);
  }
  const filtered = await (await f.request("/keys?status=idle", { htmx: true })).text();
  assert.deepEqual(
    [...filtered.matchAll(/class="key-name" href="[^"]+">([^<]+)</g)].map((m) => m[1]),
    [
      "Old CI",
    ],
  );

  const res = await f.post(`/keys/${id}/activate`, {}, { htmx: true });
  assert.equal(res.status, 200);
  const row = await res.text();
  assert.match(row, /badge active">Active/);
  assert.doesNotMatch(row, /idle-note/);
  assert.equal((await f.chat(key)).status, 200, "the clock restarted");
});

uiTest("a key one week from idle says when it goes idle; earlier it says nothing", async (f) => {
  await f.signIn();
  // Made at 10:00 on 15 Jun: idle from 10:00 on 15 Jul.
  await f.createKey({ name: "Nightly", idle_days: "30" });
  await f.createKey({ name: "No clock" });
  const note = async (iso: string) => {
    f.clock.set(iso);
    await f.signIn();
    const html = rowsOf(await (await f.request("/keys")).text(), "Nightly");
    return /<span class="idle-note[^"]*"[^>]*>([\s\S]*?)<\/span>\s*<\/td>/.exec(html)?.[1] ?? null;
  };
  assert.equal(await note("2026-07-08T09:59:00Z"), null, "more than a week ahead");
  assert.equal(await note("2026-07-08T10:00:00Z"), "Goes idle on 15 Jul 2026");
  assert.equal(await note("2026-07-15T09:59:00Z"), "Goes idle on 15 Jul 2026");
  assert.match((await note("2026-07-15T10:00:00Z"))!, /Idle since 15 Jul 2026/);
  const other = rowsOf(await (await f.request("/keys")).text(), "No clock");
  assert.doesNotMatch(other, /idle-note/);
  assert.match(other, /No expiry/);
});
