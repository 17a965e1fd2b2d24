/**
 * The Ollama boxes page: each box's state and facts, add, edit, enable/disable and delete with
 * and without htmx, errors at their fields, the token never shown, CSRF; and how the Settings
 * and Models pages follow the boxes.
 * @module
 */
import assert from "node:assert/strict";
import { open } from "../../core/secret_box.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { testDialects } from "../support/databases.ts";
import { PASSWORD, startUi, type UiFixture, uiTest } from "./ui_fixture.ts";

const TOKEN = "ui-box-token-5d1e";

/** One box's card in a page. */
function cardOf(html: string, id: number): string {
  const match = new RegExp(`<article id="box-${id}"[\\s\\S]*?</article>`).exec(html);
  assert.ok(match, `box ${id} is on the page`);
  return match[0];
}

async function addBox(f: UiFixture, form: Record<string, string>) {
  const res = await f.post("/upstreams", { max_in_flight: "1", enabled: "yes", ...form });
  assert.equal(res.status, 303, await res.text());
  assert.equal(res.headers.get("location"), "/upstreams");
  const rows = await f.deps.store.listUpstreams();
  return rows[rows.length - 1];
}

uiTest(
  "the Ollama boxes page is in the navigation and shows the box OLLAMA_URL made",
  async (f) => {
    await f.signIn();
    const res = await f.request("/upstreams");
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<title>Ollama boxes · llm-quota<\/title>/);
    assert.match(html, /<a href="\/upstreams" aria-current="page">Ollama boxes</);
    const [box] = await f.deps.store.listUpstreams();
    const card = cardOf(html, box.id);
    assert.match(card, new RegExp(`<code>${f.mock.url}</code>`));
    assert.match(card, /Takes every request/, "a lone box is not routed");
    assert.match(card, /0 \(no limit\)/);
    assert.match(html, /<form method="post" action="\/upstreams"/);
    assert.match(html, /name="_csrf"/);
    // With one box, Settings keeps its URL field.
    const settings = await (await f.request("/settings")).text();
    assert.match(settings, new RegExp(`id="ollama_url"[^>]*value="${f.mock.url}"`));
  },
);

uiTest(
  "adding a box without JavaScript stores it (token sealed) and the pages follow: Settings links, Models lists both",
  async (f) => {
    const second = await startMockOllama({ models: ["qwen3:8b"] });
    try {
      await f.signIn();
      const row = await addBox(f, { url: second.url + "/", name: "gpu2", token: TOKEN });
      assert.deepEqual([row.name, row.url, row.max_in_flight, row.enabled], [
        "gpu2",
        second.url,
        1,
        true,
      ]);
      assert.ok(row.token_sealed && !row.token_sealed.includes(TOKEN));
      assert.equal(open(row.token_sealed, f.deps.config.secretsKey), TOKEN);
      const page = await (await f.request("/upstreams")).text();
      assert.doesNotMatch(page, new RegExp(TOKEN), "the token is never shown");
      const card = cardOf(page, row.id);
      assert.match(card, /with a bearer token/);
      assert.match(card, /0 \(at most 1\)/);
      // Several boxes: Settings links to this page instead of a one-box URL field.
      const settings = await (await f.request("/settings")).text();
      assert.doesNotMatch(settings, /id="ollama_url"/);
      assert.match(settings, /Requests go to 2 Ollama boxes \([^)]*gpu2\)/);
      assert.match(settings, /<a href="\/upstreams">Ollama boxes<\/a>/);
      // Saving the other settings still works; a stale one-box URL is refused at its field.
      const saved = await f.post("/settings", { default_model: "qwen3:8b" });
      assert.equal(saved.status, 200);
      assert.equal((await f.deps.settings.get()).default_model, "qwen3:8b");
      const stale = await f.post("/settings", {
        ollama_url: "http://127.0.0.1:9",
        default_model: "x",
      });
      assert.equal(stale.status, 422);
      assert.match(await stale.text(), /2 Ollama boxes are configured/);
      assert.deepEqual((await f.deps.store.listUpstreams()).map((u) => u.url), [
        f.mock.url,
        second.url,
      ]);
      // The Models page lists the models of both boxes, and says it.
      const models = await (await f.request("/models")).text();
      assert.match(models, /What the 2 <a href="\/upstreams">Ollama boxes<\/a>/);
      assert.match(models, /qwen3:8b/);
      assert.match(models, /llama3:latest/);
      assert.equal(f.logs.some((l) => l.includes(TOKEN)), false);
    } finally {
      await second.close();
    }
  },
);

uiTest("a bad add form comes back at its fields (422), with htmx and without", async (f) => {
  await f.signIn();
  const [seeded] = await f.deps.store.listUpstreams();
  const bad = { url: "ftp://x", name: "a@b", max_in_flight: "0", token: TOKEN };
  for (const htmx of [true, false]) {
    const res = await f.post("/upstreams", bad, { htmx });
    assert.equal(res.status, 422);
    const html = await res.text();
    assert.equal(/<!doctype html>/i.test(html), !htmx, "htmx gets the fragment only");
    assert.match(html, /id="new-box-url-error">Enter an http:\/\/ or https:\/\/ address/);
    assert.match(html, /id="new-box-name-error">A name may hold letters/);
    assert.match(html, /id="new-box-max_in_flight-error">Enter a whole number from 1 to 1024/);
    assert.doesNotMatch(html, new RegExp(TOKEN), "a token typed is not sent back");
  }
  const taken = await f.post("/upstreams", { url: "http://127.0.0.1:5", name: seeded.name }, {
    htmx: true,
  });
  assert.equal(taken.status, 422);
  assert.match(await taken.text(), /A box named “[^”]+” exists already/);
  assert.equal((await f.deps.store.listUpstreams()).length, 1);
});

/** The value of input `name` in a form's HTML (entities as the page has them, `&amp;` read). */
function inputValue(html: string, name: string): string {
  const input = new RegExp(`<input[^>]*name="${name}"[^>]*>`).exec(html);
  assert.ok(input, `the form has ${name}`);
  return (/value="([^"]*)"/.exec(input[0])?.[1] ?? "").replaceAll("&amp;", "&");
}

const BOX_PASSWORD = "box-pw-93ac17";

for (const dialect of testDialects()) {
  Deno.test(
    `[${dialect}] saving a box's edit form as shown keeps the user name and password in its URL, which no page shows`,
    async () => {
      const f = await startUi({}, dialect);
      try {
        await f.signIn();
        const [row] = await f.deps.store.listUpstreams();
        const secretUrl = f.mock.url.replace("://", `://boxuser:${BOX_PASSWORD}@`);
        const set = await f.post(`/upstreams/${row.id}`, {
          url: secretUrl,
          name: row.name,
          max_in_flight: "",
          enabled: "yes",
        });
        assert.equal(set.status, 303, await set.text());
        assert.equal((await f.deps.store.getUpstream(row.id))!.url, secretUrl);
        // The edit form shows the URL redacted; only the limit is changed before saving.
        const form = await (await f.request(`/upstreams/${row.id}/edit`, { htmx: true })).text();
        const page = await (await f.request(`/upstreams`)).text();
        for (const html of [form, page]) {
          assert.doesNotMatch(html, new RegExp(BOX_PASSWORD), "the password is never shown");
          assert.doesNotMatch(html, /boxuser/, "nor the user name");
        }
        const shown = inputValue(form, "url");
        assert.equal(shown, f.mock.url.replace("://", "://***@"));
        const saved = await f.post(`/upstreams/${row.id}`, {
          url: shown,
          name: inputValue(form, "name"),
          max_in_flight: "3",
          token: "",
          enabled: "yes",
        }, { htmx: true });
        assert.equal(saved.status, 200);
        assert.doesNotMatch(await saved.text(), new RegExp(BOX_PASSWORD));
        const stored = (await f.deps.store.getUpstream(row.id))!;
        assert.deepEqual([stored.url, stored.max_in_flight], [secretUrl, 3]);
        // The box still gets its credentials (Basic auth from the URL).
        const { key } = await f.createKey({ name: "creds" });
        f.mock.requests.length = 0;
        const res = await f.chat(key);
        assert.equal(res.status, 200, await res.text());
        const chat = f.mock.requests.find((r) => r.path === "/api/chat");
        assert.equal(
          chat?.headers.get("authorization"),
          `Basic ${btoa(`boxuser:${BOX_PASSWORD}`)}`,
        );
        // A new URL (credentials or not) is taken as sent.
        const other = await f.post(`/upstreams/${row.id}`, {
          url: "http://127.0.0.1:7",
          name: row.name,
          max_in_flight: "3",
          enabled: "yes",
        });
        assert.equal(other.status, 303);
        assert.equal((await f.deps.store.getUpstream(row.id))!.url, "http://127.0.0.1:7");
      } finally {
        await f.close();
      }
    },
  );
}

uiTest(
  "editing in place changes the limit, keeps or removes the token; disable and enable",
  async (f) => {
    await f.signIn();
    const row = await addBox(f, { url: "http://127.0.0.1:7", name: "gpu2", token: TOKEN });
    const edit = await f.request(`/upstreams/${row.id}/edit`, { htmx: true });
    assert.equal(edit.status, 200);
    const form = await edit.text();
    assert.match(form, /Set; never shown\. Leave empty to keep it\./);
    assert.match(form, /name="clear_token"/);
    assert.doesNotMatch(form, new RegExp(TOKEN));
    // An empty token field keeps the token; the limit changes.
    const saved = await f.post(`/upstreams/${row.id}`, {
      url: "http://127.0.0.1:7",
      name: "gpu2",
      max_in_flight: "4",
      token: "",
      enabled: "yes",
    }, { htmx: true });
    assert.equal(saved.status, 200);
    assert.match(cardOf(await saved.text(), row.id), /0 \(at most 4\)/);
    let stored = (await f.deps.store.getUpstream(row.id))!;
    assert.equal(stored.max_in_flight, 4);
    assert.equal(stored.token_sealed, row.token_sealed);
    // Removing it; an empty limit is no limit.
    const cleared = await f.post(`/upstreams/${row.id}`, {
      url: "http://127.0.0.1:7",
      name: "gpu2",
      max_in_flight: "",
      clear_token: "yes",
      enabled: "yes",
    });
    assert.equal(cleared.status, 303);
    stored = (await f.deps.store.getUpstream(row.id))!;
    assert.deepEqual([stored.token_sealed, stored.max_in_flight], [null, null]);
    // Errors come back in the card.
    const bad = await f.post(`/upstreams/${row.id}`, { url: "nope", name: "gpu2" }, {
      htmx: true,
    });
    assert.equal(bad.status, 422);
    assert.match(await bad.text(), new RegExp(`id="box-${row.id}-url-error"`));

    const off = await f.post(`/upstreams/${row.id}/enabled`, { enabled: "no" }, { htmx: true });
    assert.equal(off.status, 200);
    const offHtml = await off.text();
    assert.match(offHtml, /Ollama box “gpu2” disabled\./);
    assert.match(cardOf(offHtml, row.id), /Disabled/);
    assert.equal((await f.deps.store.getUpstream(row.id))!.enabled, false);
    // The running pool knows at once.
    const pool = f.deps.upstreams!;
    assert.equal(pool.status().find((s) => s.id === String(row.id))!.enabled, false);
    const on = await f.post(`/upstreams/${row.id}/enabled`, { enabled: "yes" });
    assert.equal(on.status, 303);
    assert.equal((await f.deps.store.getUpstream(row.id))!.enabled, true);
  },
);

uiTest("deleting asks first without JavaScript; htmx deletes at once", async (f) => {
  await f.signIn();
  const a = await addBox(f, { url: "http://127.0.0.1:7", name: "a" });
  const b = await addBox(f, { url: "http://127.0.0.1:8", name: "b" });
  const confirm = await f.request(`/upstreams/${a.id}/delete`);
  assert.equal(confirm.status, 200);
  const page = await confirm.text();
  assert.match(page, /Delete the Ollama box “a”\?/);
  assert.match(page, new RegExp(`<form method="post" action="/upstreams/${a.id}/delete"`));
  const plain = await f.post(`/upstreams/${a.id}/delete`);
  assert.equal(plain.status, 303);
  const htmx = await f.post(`/upstreams/${b.id}/delete`, {}, { htmx: true });
  assert.equal(htmx.status, 200);
  assert.match(await htmx.text(), /Ollama box “b” deleted\./);
  assert.equal((await f.deps.store.listUpstreams()).length, 1);
  const gone = await f.post(`/upstreams/${b.id}/delete`);
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
});

uiTest("the box forms need the session's CSRF token (and a session)", async (f) => {
  await f.signIn();
  const [seeded] = await f.deps.store.listUpstreams();
  const actions: Array<[string, Record<string, string>]> = [
    ["/upstreams", { url: "http://127.0.0.1:7", name: "mallory" }],
    [`/upstreams/${seeded.id}`, { url: "http://127.0.0.1:7", name: "renamed" }],
    [`/upstreams/${seeded.id}/enabled`, { enabled: "no" }],
    [`/upstreams/${seeded.id}/delete`, {}],
  ];
  for (const [path, form] of actions) {
    const res = await f.request(path, { form });
    assert.equal(res.status, 403, path);
    await res.body?.cancel();
  }
  const anonymous = await f.request("/upstreams", { anonymous: true });
  assert.equal(anonymous.status, 303, "to the login");
  await anonymous.body?.cancel();
  assert.deepEqual(await f.deps.store.listUpstreams(), [seeded]);
  assert.ok(PASSWORD);
});
