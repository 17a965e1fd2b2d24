/**
 * A key's page: the limits that apply and whose they are, the group choice, the per-person
 * settings (the JWT secret never shown), the people with search, pages, block and own limits,
 * and the Open WebUI settings on the Proxy info page.
 * @module
 */
import assert from "node:assert/strict";
import { keyFields } from "../../core/api_keys.ts";
import { limitFieldsOf } from "../../core/limits.ts";
import { OPEN_POLICY } from "../../core/model.ts";
import { type UiFixture, uiTest } from "./ui_fixture.ts";

const SECRET = "a-shared-jwt-secret-0123456789";

/** Open WebUI's plain headers for a person. */
const person = (id: string, name = id, email = `${id}@example.com`) => ({
  "X-OpenWebUI-User-Id": id,
  "X-OpenWebUI-User-Name": encodeURIComponent(name),
  "X-OpenWebUI-User-Email": email,
  "X-OpenWebUI-User-Role": "user",
});

/** A key that tells people apart by plain headers, with a template for each person. */
async function headersKey(f: UiFixture, template: Record<string, string> = {}) {
  const created = await f.createKey({ name: "Company chat" });
  const res = await f.post(`/keys/${created.id}/delegation`, {
    identity: "openwebui-headers",
    trusted_peers: "127.0.0.1/32",
    on_missing_identity: "unattributed",
    ...template,
  });
  assert.equal(res.status, 200, await res.text());
  return created;
}

/** The row of the limit `field` on a key's page. */
function limitRow(html: string, field: string): string | null {
  return new RegExp(`<tr data-limit="${field}">[\\s\\S]*?</tr>`).exec(html)?.[0] ?? null;
}

/** The names of the people listed in a page or fragment, in order. */
function peopleIn(html: string): string[] {
  return [...html.matchAll(/<span class="person-name">([^<]+)</g)].map((m) => m[1]);
}

uiTest("a key's page shows every limit that applies, whose it is, and its usage", async (f) => {
  await f.signIn();
  const group = await f.post("/groups", {
    name: "Research",
    daily_request_limit: "3",
    monthly_token_limit: "2000000",
  });
  await group.body?.cancel();
  const groupId = (await f.deps.store.listGroups())[0].id;
  const { id, key } = await f.createKey({
    name: "Laptop",
    group_id: String(groupId),
    daily_request_limit: "100",
    daily_token_limit: "5000",
    requests_per_minute: "10",
  });
  assert.equal((await f.chat(key)).status, 200);
  const res = await f.request(`/keys/${id}`);
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /<title>Laptop · llm-quota<\/title>/);
  assert.match(html, /aria-current="page">Keys</);
  // The group's 3 is tighter than the key's 100: the group's is shown, the key's named beside.
  const day = limitRow(html, "daily_request_limit")!;
  assert.match(day, /<span class="limit-value">3<\/span> requests per day/);
  assert.match(day, new RegExp(`Group <a href="/groups#group-${groupId}">“Research”</a>`));
  assert.match(day, /The key&#39;s own, looser: 100/);
  assert.match(day, /aria-label="1 of 3 requests"/, "the group's count");
  const tokens = limitRow(html, "daily_token_limit")!;
  assert.match(tokens, /5,000<\/span> tokens per day[\s\S]*This key/);
  assert.match(limitRow(html, "monthly_token_limit")!, /2,000,000<\/span>[\s\S]*“Research”/);
  assert.match(
    limitRow(html, "requests_per_minute")!,
    /This key[\s\S]*1 of 10 requests this minute/,
  );
  assert.equal(limitRow(html, "monthly_request_limit"), null, "no limit, no row");
  assert.equal(limitRow(html, "max_concurrent"), null);

  // Without a group the key's own are all there is; without any the page says so.
  await (await f.post(`/keys/${id}/group`, { group_id: "" })).body?.cancel();
  const alone = await (await f.request(`/keys/${id}`)).text();
  assert.match(limitRow(alone, "daily_request_limit")!, /100<\/span>[\s\S]*This key/);
  assert.equal(limitRow(alone, "monthly_token_limit"), null);
  const { id: open } = await f.createKey({ name: "Open" });
  assert.match(await (await f.request(`/keys/${open}`)).text(), /No limits: the key may send/);
  assert.equal((await f.request("/keys/9999")).status, 404);
  assert.equal((await f.request("/keys/abc")).status, 404);
});

uiTest("a key's group is chosen on its page, in its edit form or when it is made", async (f) => {
  await f.signIn();
  const before = await (await f.request("/keys")).text();
  assert.doesNotMatch(before, /name="group_id"/, "no choice while there are no groups");
  for (const name of ["Research", "Ops"]) await (await f.post("/groups", { name })).body?.cancel();
  const [research, ops] = (await f.deps.store.listGroups()).map((g) => g.id);
  const create = await (await f.request("/keys")).text();
  assert.match(
    create,
    /<select id="group_id" name="group_id"[^>]*><option value="" selected>No group<\/option><option value="\d+"\s*>Ops<\/option><option value="\d+"\s*>Research<\/option>/,
  );
  const { id } = await f.createKey({ name: "Laptop", group_id: String(research) });
  assert.equal(keyFields((await f.deps.store.getKey(id))!).group_id, research);

  const htmx = await f.post(`/keys/${id}/group`, { group_id: String(ops) }, { htmx: true });
  assert.equal(htmx.status, 200);
  const section = await htmx.text();
  assert.match(section, /^<section id="key-limits"[\s\S]*Now in the group “Ops”/);
  assert.match(section, new RegExp(`<option value="${ops}" selected>Ops`));
  assert.equal(keyFields((await f.deps.store.getKey(id))!).group_id, ops);

  const edit = await (await f.request(`/keys/${id}/edit`, { htmx: true })).text();
  assert.match(
    edit,
    new RegExp(`id="key-${id}-group_id"[\\s\\S]*<option value="${ops}" selected>`),
  );
  await (await f.post(`/keys/${id}`, { group_id: "" })).body?.cancel();
  assert.equal(keyFields((await f.deps.store.getKey(id))!).group_id, null);
  await (await f.post(`/keys/${id}`, { daily_request_limit: "5" })).body?.cancel();
  assert.equal(keyFields((await f.deps.store.getKey(id))!).group_id, null, "absent: unchanged");

  // A group deleted while a form was open, or an id that was never one: refused at the field.
  for (const groupId of ["9999", "abc"]) {
    const page = await f.post(`/keys/${id}/group`, { group_id: groupId });
    assert.equal(page.status, 422, groupId);
    assert.match(
      await page.text(),
      /class="field-error">(This group no longer exists|Choose a group)/,
    );
    const inline = await f.post(`/keys/${id}`, { group_id: groupId }, { htmx: true });
    assert.equal(inline.status, 422);
    assert.match(await inline.text(), new RegExp(`id="key-${id}-group_id-error"`));
    const made = await f.post("/keys", { name: "New", group_id: groupId });
    assert.equal(made.status, 422);
    await made.body?.cancel();
  }
  assert.equal(keyFields((await f.deps.store.getKey(id))!).group_id, null);
  assert.equal((await f.deps.store.listKeys()).length, 1);
  const shown = await (await f.request("/keys")).text();
  assert.doesNotMatch(shown, /class="key-tags"/, "no group, no tag");
  await (await f.post(`/keys/${id}/group`, { group_id: String(research) })).body?.cancel();
  assert.match(
    await (await f.request("/keys")).text(),
    new RegExp(`<a class="chip" href="/groups#group-${research}"[^>]*>[\\s\\S]*?Research</a>`),
  );
});

uiTest("the JWT secret is set, replaced and cleared, and never shown or logged", async (f) => {
  await f.signIn();
  const { id } = await f.createKey({ name: "Chat" });
  const pages: string[] = [];
  const post = async (form: Record<string, string>, htmx = false) => {
    const res = await f.post(`/keys/${id}/delegation`, {
      trusted_peers: "127.0.0.1/32",
      on_missing_identity: "unattributed",
      ...form,
    }, { htmx });
    const html = await res.text();
    pages.push(html);
    return { status: res.status, html };
  };
  // The signed token needs a secret; a short one is refused, and neither is echoed.
  const missing = await post({ identity: "openwebui-jwt" });
  assert.equal(missing.status, 422);
  assert.match(
    missing.html,
    /id="delegation-identity_secret-error">The signed token needs the secret/,
  );
  const short = await post({ identity: "openwebui-jwt", identity_secret: "short-secret" });
  assert.equal(short.status, 422);
  assert.match(short.html, /Use at least 16 characters/);
  assert.doesNotMatch(short.html, /short-secret/);
  assert.equal((await f.deps.store.getKey(id))!.delegation, null, "nothing stored");

  const set = await post({ identity: "openwebui-jwt", identity_secret: SECRET }, true);
  assert.equal(set.status, 200);
  assert.match(set.html, /^<div id="key-page">[\s\S]*Saved\. The next request/);
  assert.match(set.html, /Secret for the signed token:<\/strong> set\./);
  assert.match(set.html, /name="identity_secret" type="password" value=""/);
  const stored = (await f.deps.store.getKey(id))!.delegation!;
  assert.equal(stored.identity, "openwebui-jwt");
  assert.ok(stored.secret && !stored.secret.includes(SECRET), "stored sealed");
  const sealed = stored.secret;

  // Empty keeps it; another one replaces it; both at once, or clearing it for JWT, is refused.
  assert.equal((await post({ identity: "openwebui-jwt" })).status, 200);
  assert.equal((await f.deps.store.getKey(id))!.delegation!.secret, sealed, "kept");
  const both = await post({
    identity: "openwebui-jwt",
    identity_secret: `${SECRET}-new`,
    clear_secret: "yes",
  });
  assert.equal(both.status, 422);
  assert.match(both.html, /Enter a new secret or clear it, not both/);
  const clearJwt = await post({ identity: "openwebui-jwt", clear_secret: "yes" });
  assert.equal(clearJwt.status, 422);
  assert.match(clearJwt.html, /The signed token needs the secret/);
  assert.equal((await f.deps.store.getKey(id))!.delegation!.secret, sealed);
  assert.equal(
    (await post({ identity: "openwebui-jwt", identity_secret: `${SECRET}-new` })).status,
    200,
  );
  assert.notEqual((await f.deps.store.getKey(id))!.delegation!.secret, sealed, "replaced");
  const cleared = await post({ identity: "openwebui-headers", clear_secret: "yes" });
  assert.equal(cleared.status, 200);
  assert.match(cleared.html, /Secret for the signed token:<\/strong> none set\./);
  assert.equal((await f.deps.store.getKey(id))!.delegation!.secret, null);

  for (const path of [`/keys/${id}`, "/keys", "/proxy"]) {
    pages.push(await (await f.request(path)).text());
  }
  for (const html of pages) {
    assert.ok(!html.includes(SECRET), "never on a page");
    assert.ok(!html.includes(sealed), "nor sealed");
  }
  const logged = f.logs.join("\n");
  assert.ok(!logged.includes(SECRET) && !logged.includes(sealed), "nor in a log line");
});

uiTest("per-person settings are stored as entered, and checked field by field", async (f) => {
  await f.signIn();
  const { id } = await f.createKey({ name: "Chat" });
  const bad = await f.post(`/keys/${id}/delegation`, {
    identity: "openwebui-headers",
    trusted_peers: "10.0.0.0/8, 300.1.1.1",
    header_user_id: "X User",
    member_daily_token_limit: "-5",
    on_missing_identity: "maybe",
  });
  assert.equal(bad.status, 422);
  const html = await bad.text();
  assert.match(html, /id="delegation-trusted_peers-error">“300\.1\.1\.1” is not an IP address/);
  assert.match(html, /id="delegation-header_user_id-error">Use letters, digits and -/);
  assert.match(html, /id="delegation-member_daily_token_limit-error">Enter a whole number/);
  assert.match(html, /Choose what happens to calls that name nobody/);
  assert.match(html, /10\.0\.0\.0\/8, 300\.1\.1\.1<\/textarea>/, "values kept");
  assert.match(html, /<details class="policy-more" open>/, "renamed headers unfolded");
  const none = await f.post(`/keys/${id}/delegation`, {
    identity: "openwebui-headers",
    trusted_peers: " ",
  });
  assert.equal(none.status, 422);
  assert.match(await none.text(), /Enter at least one address or range/);
  assert.equal((await f.deps.store.getKey(id))!.delegation, null);

  const ok = await f.post(`/keys/${id}/delegation`, {
    identity: "openwebui-headers",
    trusted_peers: "127.0.0.1/32\n172.17.0.0/16",
    header_user_id: "X-User",
    header_email: "",
    member_daily_request_limit: "20",
    member_max_concurrent: "2",
    member_monthly_token_limit: "",
    on_missing_identity: "reject",
  });
  assert.equal(ok.status, 200);
  const view = keyFields((await f.deps.store.getKey(id))!);
  assert.equal(view.identity, "openwebui-headers");
  assert.deepEqual(view.trusted_peers, ["127.0.0.1/32", "172.17.0.0/16"]);
  assert.equal(view.identity_headers.user_id, "X-User");
  assert.equal(view.identity_headers.email, "X-OpenWebUI-User-Email", "empty: the default");
  assert.equal(view.member_limits.daily_request_limit, 20);
  assert.equal(view.member_limits.max_concurrent, 2);
  assert.equal(view.member_limits.monthly_token_limit, null);
  assert.equal(view.on_missing_identity, "reject");
  const page = await (await f.request(`/keys/${id}`)).text();
  assert.match(page, /name="member_daily_request_limit" type="number" value="20"/);
  assert.match(page, /name="header_user_id" type="text" value="X-User"/);
  assert.match(page, /name="header_email" type="text" value=""/);
  assert.match(
    page,
    /id="delegation-missing-reject" name="on_missing_identity" value="reject" checked/,
  );
  // The people list appears with delegation; "No" ends it.
  assert.match(page, /<section id="members"/);
  assert.match(await (await f.request("/keys")).text(), />Per person</);
  // "No": the settings, hidden then, are not checked (a browser still sends them).
  const off = await f.post(`/keys/${id}/delegation`, {
    identity: "",
    trusted_peers: "not-an-address",
    member_daily_request_limit: "x",
  }, { htmx: true });
  assert.equal(off.status, 200);
  assert.doesNotMatch(await off.text(), /<section id="members"/);
  assert.equal((await f.deps.store.getKey(id))!.delegation, null);
});

uiTest("the people of a key: usage bars, search by name, email or id, in pages", async (f) => {
  await f.signIn();
  const { id, key } = await headersKey(f, { member_daily_request_limit: "2" });
  assert.equal((await f.chat(key, {}, person("u-alice", "Alice Adams"))).status, 200);
  assert.equal((await f.chat(key, {}, person("u-alice", "Alice Adams"))).status, 200);
  assert.equal((await f.chat(key, {}, person("u-alice", "Alice Adams"))).status, 429);
  assert.equal((await f.chat(key, {}, person("u-bob", "Bob", "bob@corp.example"))).status, 200);
  assert.equal((await f.chat(key)).status, 200, "a call that names nobody");
  const page = await (await f.request(`/keys/${id}`)).text();
  assert.match(page, /People<span class="muted"> \(3\)<\/span>/);
  const alice = /<tbody id="member-\d+" >[\s\S]*?Alice Adams[\s\S]*?<\/tbody>/.exec(page)![0];
  assert.match(alice, /<div class="usage full">[\s\S]*?aria-label="2 of 2 requests"/);
  assert.match(alice, /u-alice@example\.com/);
  assert.match(alice, /id <code>u-alice<\/code> · user/);
  assert.match(alice, /Key&#39;s template/);
  assert.match(
    page,
    /unattributed<\/span><span class="person-detail muted">Calls that name nobody/,
  );

  const search = async (q: string) =>
    peopleIn(await (await f.request(`/keys/${id}/members?q=${q}`, { htmx: true })).text());
  assert.deepEqual(await search("ALICE"), ["Alice Adams"], "by name, in any case");
  assert.deepEqual(await search("corp.example"), ["Bob"], "by email");
  assert.deepEqual(await search("u-b"), ["Bob"], "by id");
  assert.deepEqual(await search("unattr"), ["unattributed"]);
  const none = await (await f.request(`/keys/${id}/members?q=zed`, { htmx: true })).text();
  assert.match(none, /^<div id="member-table"><p class="empty">Nobody matches “zed”/);
  // Without JavaScript the search is the page's own query.
  const plain = await f.request(`/keys/${id}/members?q=bob`);
  assert.equal(plain.status, 303);
  assert.equal(plain.headers.get("location"), `/keys/${id}?q=bob#members`);
  const searched = await (await f.request(`/keys/${id}?q=bob`)).text();
  assert.deepEqual(peopleIn(searched), ["Bob"]);
  assert.match(searched, /id="member-search" name="q" type="search" [^>]*value="bob"/);
});

uiTest("hundreds of people are shown 25 at a time, with page links", async (f) => {
  await f.signIn();
  const { id, key } = await headersKey(f);
  for (let i = 1; i <= 30; i++) {
    f.clock.set(`2026-06-15T10:00:${String(i).padStart(2, "0")}Z`);
    const res = await f.chat(key, {}, person(`u-${i}`, `Person ${i}`));
    assert.equal(res.status, 200);
  }
  const first = await (await f.request(`/keys/${id}`)).text();
  const names = peopleIn(first);
  assert.equal(names.length, 25);
  assert.equal(names[0], "Person 30", "the most recently seen first");
  assert.match(first, /1–25 of 30/);
  assert.match(first, /Page 1 of 2/);
  assert.match(
    first,
    new RegExp(`href="/keys/${id}\\?page=2#members" hx-get="/keys/${id}/members\\?page=2"`),
  );
  assert.doesNotMatch(first, />Previous</);
  const second = await (await f.request(`/keys/${id}/members?page=2`, { htmx: true })).text();
  assert.deepEqual(peopleIn(second), ["Person 5", "Person 4", "Person 3", "Person 2", "Person 1"]);
  assert.match(second, /26–30 of 30/);
  assert.match(second, />Previous</);
  // A page past the end shows the last one; a bad one the first.
  assert.deepEqual(peopleIn(await (await f.request(`/keys/${id}?page=99`)).text()).length, 5);
  assert.equal(peopleIn(await (await f.request(`/keys/${id}?page=-1`)).text())[0], "Person 30");
  const filtered = await (await f.request(`/keys/${id}/members?q=person%201`, { htmx: true }))
    .text();
  assert.equal(peopleIn(filtered).length, 11, "Person 1 and 10–19");
  assert.match(filtered, /11 people matching “person 1”/);
});

uiTest("a person is blocked and unblocked, with htmx or without", async (f) => {
  await f.signIn();
  const { id, key } = await headersKey(f);
  assert.equal((await f.chat(key, {}, person("u-eve", "Eve"))).status, 200);
  const eve = (await f.deps.store.listMembers(id))[0];
  const blocked = await f.post(`/keys/${id}/members/${eve.id}/block`, {}, { htmx: true });
  assert.equal(blocked.status, 200);
  const row = await blocked.text();
  assert.match(row, new RegExp(`^<tbody id="member-${eve.id}" >`));
  assert.match(row, /<span class="badge blocked">Blocked<\/span>/);
  assert.match(row, />Unblock</);
  assert.equal((await f.chat(key, {}, person("u-eve", "Eve"))).status, 403);
  const plain = await f.post(`/keys/${id}/members/${eve.id}/unblock`, { q: "eve", page: "1" });
  assert.equal(plain.status, 303);
  assert.equal(plain.headers.get("location"), `/keys/${id}?q=eve#member-${eve.id}`);
  assert.equal((await f.chat(key, {}, person("u-eve", "Eve"))).status, 200);
  // A person of another key, or nobody at all, is not found.
  const other = await headersKey(f);
  assert.equal((await f.post(`/keys/${other.id}/members/${eve.id}/block`)).status, 404);
  assert.equal((await f.post(`/keys/${id}/members/999/block`)).status, 404);
  assert.equal((await f.post(`/keys/${id}/members/x/block`)).status, 404);
  assert.equal((await f.deps.store.listMembers(id))[0].blocked, false);
});

uiTest("a person gets limits of their own, then the key's template again", async (f) => {
  await f.signIn();
  const { id, key } = await headersKey(f, {
    member_daily_request_limit: "1",
    member_max_concurrent: "3",
  });
  assert.equal((await f.chat(key, {}, person("u-dan", "Dan"))).status, 200);
  assert.equal((await f.chat(key, {}, person("u-dan", "Dan"))).status, 429);
  const dan = (await f.deps.store.listMembers(id))[0];
  const edit = await (await f.request(`/keys/${id}/members/${dan.id}/edit`, { htmx: true }))
    .text();
  assert.match(edit, /^<tbody id="member-\d+" class="editing">/);
  assert.match(edit, /name="member_daily_request_limit" type="number" value="1"/, "the template");
  assert.match(edit, /name="member_max_concurrent" type="number" value="3"/);
  assert.doesNotMatch(edit, /Back to the key&#39;s template/, "nothing to go back from yet");
  const page = await (await f.request(`/keys/${id}/members/${dan.id}/edit?q=dan`)).text();
  assert.match(page, /<!doctype html>/i);
  assert.match(page, new RegExp(`id="member-${dan.id}-member_daily_request_limit"`));

  const bad = await f.post(`/keys/${id}/members/${dan.id}`, { member_daily_request_limit: "1.5" }, {
    htmx: true,
  });
  assert.equal(bad.status, 422);
  assert.match(await bad.text(), /class="editing"[\s\S]*Enter a whole number/);
  const saved = await f.post(`/keys/${id}/members/${dan.id}`, {
    member_daily_request_limit: "5",
    member_max_concurrent: "",
  }, { htmx: true });
  assert.equal(saved.status, 200);
  assert.match(await saved.text(), /Own limits/);
  const own = (await f.deps.store.listMembers(id))[0];
  const ownFields = limitFieldsOf({ ...OPEN_POLICY, limits: own.limits! });
  assert.equal(ownFields.daily_request_limit, 5);
  assert.equal(ownFields.max_concurrent, null, "emptied: no limit for him");
  assert.equal((await f.chat(key, {}, person("u-dan", "Dan"))).status, 200);

  const again = await (await f.request(`/keys/${id}/members/${dan.id}/edit`, { htmx: true }))
    .text();
  assert.match(
    again,
    /formaction="\/keys\/\d+\/members\/\d+\/reset"[^>]*>Back to the key&#39;s template/,
  );
  const reset = await f.post(`/keys/${id}/members/${dan.id}/reset`, {}, { htmx: true });
  assert.match(await reset.text(), /Key&#39;s template/);
  assert.equal((await f.deps.store.listMembers(id))[0].limits, null);
  assert.equal((await f.chat(key, {}, person("u-dan", "Dan"))).status, 429, "1 a day again");
});

uiTest("a person's name with markup is shown as text", async (f) => {
  await f.signIn();
  const { id, key } = await headersKey(f);
  const evil = "<img src=x onerror=alert(1)>";
  assert.equal((await f.chat(key, {}, person("u-x", evil, "x@example.com"))).status, 200);
  const member = (await f.deps.store.listMembers(id))[0];
  const pages = [
    await (await f.request(`/keys/${id}`)).text(),
    await (await f.request(`/keys/${id}/members?q=img`, { htmx: true })).text(),
    await (await f.post(`/keys/${id}/members/${member.id}/block`, {}, { htmx: true })).text(),
  ];
  for (const html of pages) {
    assert.ok(!html.includes("<img src=x"), "never raw");
    assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  }
});

uiTest("Proxy info shows Open WebUI's settings for each key that tells people apart", async (f) => {
  await f.signIn();
  const plain = await (await f.request("/proxy")).text();
  assert.match(plain, /Open WebUI with a quota per person/);
  const jwt = await f.createKey({ name: "Chat JWT" });
  await (await f.post(`/keys/${jwt.id}/delegation`, {
    identity: "openwebui-jwt",
    trusted_peers: "127.0.0.1/32",
    identity_secret: SECRET,
    header_jwt: "X-Signed-User",
  })).body?.cancel();
  const headers = await headersKey(f);
  const html = await (await f.request("/proxy")).text();
  const card = (id: number) =>
    new RegExp(`<section id="openwebui-key-${id}"[\\s\\S]*?</section>`).exec(html)![0];
  const prefix = (await f.deps.store.getKey(jwt.id))!.prefix;
  assert.match(
    card(jwt.id),
    new RegExp(
      `<code id="openwebui-key-${jwt.id}-env"># Open WebUI, for the key “Chat JWT”\nENABLE_FORWARD_USER_INFO_HEADERS=true\nFORWARD_USER_INFO_HEADER_JWT_SECRET=&lt;the secret entered on the key&#39;s page&gt;\nFORWARD_USER_INFO_HEADER_JWT=X-Signed-User\nOPENAI_API_BASE_URL=http://127\\.0\\.0\\.1:8000/v1\nOPENAI_API_KEY=&lt;the key ${prefix}…, shown once when it was created&gt;</code>`,
    ),
  );
  assert.doesNotMatch(card(jwt.id), /Plain headers believe/);
  assert.ok(!html.includes(SECRET));
  const warned = card(headers.id);
  assert.doesNotMatch(warned, /JWT_SECRET=/);
  assert.match(warned, /Leave <code>FORWARD_USER_INFO_HEADER_JWT_SECRET<\/code>\s*unset/);
  assert.match(
    warned,
    /Plain headers believe whoever sends them\.[\s\S]*Anyone who holds this key and can reach the gateway from <code>127\.0\.0\.1\/32<\/code>/,
  );
  assert.match(
    warned,
    /an Ollama API connection with the URL <code>http:\/\/127\.0\.0\.1:8000<\/code>/,
  );
  // A JWT key whose secret was never set says so.
  await f.deps.store.updateKey(jwt.id, {
    delegation: { ...(await f.deps.store.getKey(jwt.id))!.delegation!, secret: null },
  });
  assert.match(await (await f.request("/proxy")).text(), /No secret is set on the key yet/);
});

uiTest("the key page's forms need the session's CSRF token", async (f) => {
  await f.signIn();
  const { id, key } = await headersKey(f);
  assert.equal((await f.chat(key, {}, person("u-1"))).status, 200);
  const member = (await f.deps.store.listMembers(id))[0];
  await (await f.post("/groups", { name: "G" })).body?.cancel();
  const groupId = (await f.deps.store.listGroups())[0].id;
  const actions: Array<[string, Record<string, string>]> = [
    ["/groups", { name: "Mallory" }],
    [`/groups/${groupId}`, { name: "Renamed" }],
    [`/groups/${groupId}/delete`, {}],
    [`/keys/${id}/group`, { group_id: String(groupId) }],
    [`/keys/${id}/delegation`, { identity: "" }],
    [`/keys/${id}/members/${member.id}`, { member_daily_request_limit: "0" }],
    [`/keys/${id}/members/${member.id}/block`, {}],
    [`/keys/${id}/members/${member.id}/reset`, {}],
  ];
  for (const [path, form] of actions) {
    const res = await f.request(path, { form });
    assert.equal(res.status, 403, path);
    await res.body?.cancel();
  }
  const stored = (await f.deps.store.getKey(id))!;
  assert.equal(stored.group_id, null);
  assert.ok(stored.delegation);
  assert.deepEqual((await f.deps.store.listGroups()).map((g) => g.name), ["G"]);
  const [m] = await f.deps.store.listMembers(id);
  assert.deepEqual([m.blocked, m.limits], [false, null]);
});
