/**
 * The Groups page: create, edit, usage bars, the keys of a group, and deleting a group that
 * still has keys (409 unless the keys shown are detached).
 * @module
 */
import assert from "node:assert/strict";
import { groupFields } from "../../core/groups.ts";
import { keyFields } from "../../core/api_keys.ts";
import { type UiFixture, uiTest } from "./ui_fixture.ts";

const EVIL = "<script>alert(1)</script>";

/** Creates a group through the UI and returns its id. */
async function createGroup(f: UiFixture, form: Record<string, string>): Promise<number> {
  const res = await f.post("/groups", form);
  assert.equal(res.status, 200, await res.text());
  const group = (await f.deps.store.listGroups()).find((g) => g.name === form.name.trim());
  return group!.id;
}

/** One group's card in a page. */
function cardOf(html: string, id: number): string {
  const match = new RegExp(`<article id="group-${id}"[\\s\\S]*?</article>`).exec(html);
  assert.ok(match, `group ${id} is on the page`);
  return match[0];
}

uiTest("the Groups page is in the navigation and says what a group is for", async (f) => {
  await f.signIn();
  const res = await f.request("/groups");
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /<title>Groups · llm-quota<\/title>/);
  assert.match(html, /<a href="\/groups" aria-current="page">Groups</);
  assert.match(html, /a request\s+must fit both, and the tighter one refuses it/);
  assert.match(html, /No groups yet/);
  // Groups have limits and models, no caps (those are per key).
  assert.match(html, /name="monthly_token_limit"/);
  assert.match(html, /name="requests_per_minute"/);
  assert.match(html, /name="models"/);
  assert.doesNotMatch(html, /name="max_output_tokens"|name="idle_days"/);
});

uiTest("creating a group stores its limits and models; htmx swaps the list too", async (f) => {
  await f.signIn();
  const res = await f.post("/groups", {
    name: "  Research ",
    daily_request_limit: "3",
    monthly_token_limit: "2000000",
    requests_per_minute: "10",
    models: "llama3, qwen3:*",
  });
  assert.equal(res.status, 200);
  const page = await res.text();
  assert.match(page, /<!doctype html>/i);
  assert.match(page, /Group “Research” created\./);
  const [group] = (await f.deps.store.listGroups()).map(groupFields);
  assert.equal(group.name, "Research");
  assert.equal(group.daily_request_limit, 3);
  assert.equal(group.monthly_token_limit, 2_000_000);
  assert.equal(group.requests_per_minute, 10);
  assert.equal(group.daily_token_limit, null, "empty is unlimited");
  assert.deepEqual(group.models, ["llama3", "qwen3:*"]);
  const card = cardOf(page, group.id);
  assert.match(card, /10 requests per minute/);
  assert.match(card, /<code>llama3<\/code><code>qwen3:\*<\/code>/);

  const htmx = await f.post("/groups", { name: "Ops" }, { htmx: true });
  assert.equal(htmx.status, 200);
  const fragment = await htmx.text();
  assert.match(fragment, /^<section id="create-group"[\s\S]*Group “Ops” created/);
  assert.match(
    fragment,
    /<section id="group-list" [^>]*hx-swap-oob="true"[\s\S]*Ops[\s\S]*Research/,
  );
  assert.doesNotMatch(fragment, /<html/);
  // By name, whatever the order they were made in.
  assert.ok(fragment.indexOf(">Ops</h3>") < fragment.indexOf(">Research</h3>"));
});

uiTest("group form errors show at their fields, keep the values and store nothing", async (f) => {
  await f.signIn();
  const form = { name: " ", daily_request_limit: "-1", models: "qwen*", tokens_per_minute: "2" };
  const res = await f.post("/groups", form);
  assert.equal(res.status, 422);
  const html = await res.text();
  assert.match(html, /id="new-group-name-error">Give the group a name</);
  assert.match(html, /id="new-group-daily_request_limit-error">Enter a whole number/);
  assert.match(html, /id="new-group-models-error">“qwen\*”: a \* stands only for a whole tag/);
  assert.match(html, /name="daily_request_limit" type="number" value="-1"/);
  assert.match(html, /name="tokens_per_minute" type="number" value="2"/);
  assert.match(html, /<details class="policy-more" open>/, "the fold with an error is open");
  const htmx = await f.post("/groups", form, { htmx: true });
  assert.equal(htmx.status, 422);
  assert.match(await htmx.text(), /^<section id="create-group"[\s\S]*field-error/);
  const tooLong = await f.post("/groups", { name: "g".repeat(101) });
  assert.equal(tooLong.status, 422);
  assert.match(await tooLong.text(), /Use at most 100 characters/);
  assert.equal((await f.deps.store.listGroups()).length, 0);
});

uiTest("a group name is unique: creating or renaming to a taken one is refused", async (f) => {
  await f.signIn();
  await createGroup(f, { name: "Research" });
  const ops = await createGroup(f, { name: "Ops" });
  const again = await f.post("/groups", { name: "Research", daily_token_limit: "5" });
  assert.equal(again.status, 422);
  const html = await again.text();
  assert.match(html, /id="new-group-name-error">A group named “Research” exists already/);
  assert.match(html, /name="daily_token_limit" type="number" value="5"/);
  const rename = await f.post(`/groups/${ops}`, { name: "Research" }, { htmx: true });
  assert.equal(rename.status, 422);
  assert.match(await rename.text(), /^<article id="group-\d+"[\s\S]*exists already/);
  assert.deepEqual((await f.deps.store.listGroups()).map((g) => g.name).sort(), [
    "Ops",
    "Research",
  ]);
  // Its own name is not "taken".
  const same = await f.post(`/groups/${ops}`, { name: "Ops", daily_request_limit: "9" });
  assert.equal(same.status, 303);
});

uiTest("a group's card shows its usage today and this month, and links its keys", async (f) => {
  await f.signIn();
  const id = await createGroup(f, { name: "Research", daily_request_limit: "3" });
  const a = await f.createKey({ name: "Laptop", group_id: String(id), daily_request_limit: "50" });
  const b = await f.createKey({ name: "CI" });
  await (await f.post(`/keys/${b.id}`, { group_id: String(id) })).body?.cancel();
  await f.createKey({ name: "Outsider" });
  for (const key of [a.key, a.key, b.key]) assert.equal((await f.chat(key)).status, 200);
  assert.equal((await f.chat(a.key)).status, 429, "the group's 3 a day, not the key's 50");
  const card = cardOf(await (await f.request("/groups")).text(), id);
  // One bar per day and month kind: requests and tokens, each today and this month.
  assert.equal([...card.matchAll(/<div class="usage /g)].length, 4);
  assert.match(card, /<div class="usage full">[\s\S]*?aria-label="3 of 3 requests"/);
  assert.match(card, /3 <span class="muted">\/ unlimited/, "the month counts without a limit");
  assert.deepEqual(
    [...card.matchAll(/<a class="chip" href="\/keys\/(\d+)">([^<]+)</g)].map((m) => [
      Number(m[1]),
      m[2],
    ]),
    [[b.id, "CI"], [a.id, "Laptop"]],
  );
  assert.doesNotMatch(card, /Outsider/);
});

uiTest("a group is edited in place with htmx, or in the page without it", async (f) => {
  await f.signIn();
  const id = await createGroup(f, { name: "Research", monthly_token_limit: "1000" });
  const edit = await (await f.request(`/groups/${id}/edit`, { htmx: true })).text();
  assert.match(edit, /^<article id="group-\d+"/);
  assert.match(edit, new RegExp(`<form method="post" action="/groups/${id}"`));
  assert.match(edit, /name="monthly_token_limit" type="number" value="1000"/);
  const page = await (await f.request(`/groups/${id}/edit`)).text();
  assert.match(page, /<!doctype html>/i);
  assert.match(page, new RegExp(`id="group-${id}-monthly_token_limit"`));

  const saved = await f.post(`/groups/${id}`, {
    name: "R&D",
    monthly_token_limit: "",
    daily_token_limit: "500",
    models: "",
  }, { htmx: true });
  assert.equal(saved.status, 200);
  const card = await saved.text();
  assert.match(card, /^<article id="group-\d+"[\s\S]*R&amp;D/);
  assert.doesNotMatch(card, /<form method="post" action="\/groups\/\d+"/, "no longer editing");
  const group = groupFields((await f.deps.store.getGroup(id))!);
  assert.deepEqual([group.name, group.monthly_token_limit, group.daily_token_limit], [
    "R&D",
    null,
    500,
  ]);
  const plain = await f.post(`/groups/${id}`, { daily_token_limit: "600" });
  assert.equal(plain.status, 303);
  assert.equal(plain.headers.get("location"), "/groups");
  const bad = await f.post(`/groups/${id}`, { daily_token_limit: "1e3" });
  assert.equal(bad.status, 422);
  assert.match(await bad.text(), new RegExp(`id="group-${id}-daily_token_limit-error"`));
  assert.equal(groupFields((await f.deps.store.getGroup(id))!).daily_token_limit, 600);
  const cancel = await (await f.request(`/groups/${id}/card`, { htmx: true })).text();
  assert.match(cancel, /^<article id="group-\d+"[\s\S]*Edit/);
});

uiTest("an empty group is deleted at once: hx-confirm, or a confirmation page", async (f) => {
  await f.signIn();
  const id = await createGroup(f, { name: "Empty" });
  const list = await (await f.request("/groups")).text();
  assert.match(
    list,
    new RegExp(`href="/groups/${id}/delete" hx-post="/groups/${id}/delete" hx-confirm="Delete`),
  );
  const confirm = await (await f.request(`/groups/${id}/delete`)).text();
  assert.match(confirm, /The group has no keys/);
  assert.match(confirm, />Delete group</);
  assert.doesNotMatch(confirm, /name="force"/);
  const res = await f.post(`/groups/${id}/delete`, {}, { htmx: true });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /hx-swap-oob="true"[\s\S]*Group “Empty” deleted/);
  assert.equal(await f.deps.store.getGroup(id), null);
  const gone = await f.request(`/groups/${id}/edit`);
  assert.equal(gone.status, 404);
  assert.match(await gone.text(), /This group does not exist/);
});

uiTest(
  "deleting a group with keys is a 409 that explains; detaching them deletes it",
  async (f) => {
    await f.signIn();
    const id = await createGroup(f, { name: "Research", daily_request_limit: "1" });
    const a = await f.createKey({ name: "Laptop", group_id: String(id) });
    const b = await f.createKey({ name: "CI", group_id: String(id) });
    // Its Delete leads to the confirmation page, never straight to a delete.
    const card = cardOf(await (await f.request("/groups")).text(), id);
    assert.match(card, new RegExp(`<a class="btn danger small" href="/groups/${id}/delete">`));
    assert.doesNotMatch(card, /hx-post="\/groups\/\d+\/delete"/);

    const plain = await f.post(`/groups/${id}/delete`);
    assert.equal(plain.status, 409);
    const refused = await plain.text();
    assert.match(refused, /The group was not deleted: it still has 2 keys/);
    assert.match(refused, /Detach 2 keys and delete/);
    const htmx = await f.post(`/groups/${id}/delete`, {}, { htmx: true });
    assert.equal(htmx.status, 409);
    assert.equal(htmx.headers.get("hx-retarget"), "#flash");
    assert.match(
      await htmx.text(),
      new RegExp(`still has keys[\\s\\S]*href="/groups/${id}/delete"`),
    );
    assert.ok(await f.deps.store.getGroup(id), "still there");

    const confirm = await (await f.request(`/groups/${id}/delete`)).text();
    assert.match(confirm, /It still has 2 keys\. Deleting it detaches them/);
    assert.match(confirm, /<input type="hidden" name="force" value="true"/);
    assert.match(confirm, new RegExp(`name="detach" value="${a.id},${b.id}"`));
    // A key that joined after the page was shown is not detached unasked.
    const late = await f.createKey({ name: "Late", group_id: String(id) });
    const stale = await f.post(`/groups/${id}/delete`, {
      force: "true",
      detach: `${a.id},${b.id}`,
    });
    assert.equal(stale.status, 409);
    assert.match(await stale.text(), /its keys changed since this page was shown[\s\S]*Late/);
    assert.ok(await f.deps.store.getGroup(id));

    const done = await f.post(`/groups/${id}/delete`, {
      force: "true",
      detach: `${a.id},${b.id},${late.id}`,
    });
    assert.equal(done.status, 303);
    assert.equal(await f.deps.store.getGroup(id), null);
    for (const k of [a, b, late]) {
      assert.equal(keyFields((await f.deps.store.getKey(k.id))!).group_id, null, "detached");
    }
    assert.equal((await f.chat(a.key)).status, 200);
    assert.equal((await f.chat(a.key)).status, 200, "the group's limit of 1 is gone with it");
  },
);

uiTest("a group named <script>alert(1)</script> is escaped wherever it appears", async (f) => {
  await f.signIn();
  const created = await f.post("/groups", { name: EVIL });
  const pages = [await created.text()];
  const id = (await f.deps.store.listGroups())[0].id;
  const { id: keyId } = await f.createKey({ name: "k", group_id: String(id) });
  for (
    const path of [
      "/groups",
      `/groups/${id}/edit`,
      `/groups/${id}/delete`,
      "/keys",
      `/keys/${keyId}`,
    ]
  ) {
    pages.push(await (await f.request(path)).text());
  }
  pages.push(await (await f.request(`/groups/${id}/card`, { htmx: true })).text());
  pages.push(await (await f.post(`/groups/${id}/delete`, {}, { htmx: true })).text());
  for (const html of pages) {
    assert.ok(!html.includes("<script>alert"), "never raw");
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  }
});
