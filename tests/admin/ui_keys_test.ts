import { keyFields } from "../../core/api_keys.ts";
import assert from "node:assert/strict";
import { uiTest } from "./ui_fixture.ts";

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
    return [...html.matchAll(/<span class="key-name">([^<]+)</g)].map((m) => m[1]);
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
  assert.match(await renamed.text(), /<span class="key-name">Alice&#39;s laptop<\/span>/);
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
