import assert from "node:assert/strict";
import { type Dialect, testDialects } from "../support/databases.ts";
import { startUi, type UiFixture } from "./ui_fixture.ts";
import { rawQuery } from "../support/raw_query.ts";
import { MAX_USAGE_ROWS } from "../../core/analytics/usage.ts";
import { presetRange } from "../../core/analytics/range_presets.ts";
import type { UsageQuery } from "../../core/analytics/types.ts";
import type { Store } from "../../core/store.ts";
import { keyOptions, loadUsage } from "../../admin/usage_data.ts";
import type { UsageData } from "../../views/usage_page.tsx";

const ENV = { APP_TZ: "Europe/Berlin" };

/** Registers a test per dialect with a signed-in fixture, closed afterwards. */
function usageTest(name: string, fn: (f: UiFixture, dialect: Dialect) => Promise<void>) {
  for (const dialect of testDialects()) {
    Deno.test(`${name} (${dialect})`, async () => {
      const f = await startUi(ENV, dialect);
      try {
        await f.signIn();
        await fn(f, dialect);
      } finally {
        await f.close();
      }
    });
  }
}

async function page(f: UiFixture, path: string, htmx = false) {
  const res = await f.request(path, { htmx });
  return { status: res.status, html: await res.text() };
}

/** The text of an element's error line under a filter field. */
function fieldError(html: string, id: string): string | undefined {
  return new RegExp(`<p class="field-error" id="${id}-error">([^<]*)</p>`).exec(html)?.[1];
}

usageTest("wrong filters show next to their field with a 422, never a 500", async (f) => {
  const cases: Array<[string, string, RegExp]> = [
    ["/usage?from=2026-02-30", "f-from", /not a date/],
    ["/usage?from=30.06.2026", "f-from", /YYYY-MM-DD/],
    ["/usage?from=2026-06-10&to=2026-06-01", "f-to", /before the start/],
    ["/usage?from=2027-01-01", "f-from", /future/],
    ["/usage?from=2020-01-01", "f-from", /at most 400 days/],
    ["/usage?key_id=abc", "f-key", /Choose a key/],
    ["/requests?to=%3Cscript%3E&from=2026-06-01", "f-to", /YYYY-MM-DD/],
    ["/requests?key_id=0", "f-key", /Choose a key/],
    // Years the admin API refuses as well: a message on the field, not a 500.
    ["/usage?from=1969-12-31", "f-from", /year from 1970 to 9998/],
    ["/requests?from=0000-01-01&to=0000-01-02", "f-from", /year from 1970 to 9998/],
    ["/usage?from=2026-06-01&to=9999-01-01", "f-to", /year from 1970 to 9998/],
    ["/requests?from=99999-01-01", "f-from", /YYYY-MM-DD/],
  ];
  for (const [path, id, message] of cases) {
    for (const htmx of [false, true]) {
      const { status, html } = await page(f, path, htmx);
      assert.equal(status, 422, path);
      assert.match(fieldError(html, id) ?? "", message, `${path}: ${html.slice(0, 200)}`);
      assert.match(html, new RegExp(`id="${id}"[^>]*aria-invalid="true"`), path);
      assert.match(html, /These filters name no range/, path);
      assert.equal(html.includes("<html"), !htmx, `${path}: a fragment for htmx`);
      assert.ok(!html.includes("<script>"), "what was typed is escaped");
    }
  }
  // The entered text is shown again, for fixing.
  const { html } = await page(f, "/usage?from=2026-02-30&to=2026-03-01");
  assert.match(html, /id="f-from" name="from" type="date" value="2026-02-30"/);
  for (
    const path of [
      "/usage?range=1y",
      "/usage?by=person",
      "/requests?status=lost",
      "/requests?cursor=not-a-cursor",
      "/requests?cursor=" + btoa("2026-06-15T10:00:00Z|x"),
      "/requests?model=" + "m".repeat(700),
      "/requests?route=%01",
      "/usage?model=%00",
      "/requests?model=llama%C2%853",
      "/requests?route=%C2%9B2J",
    ]
  ) {
    const { status, html } = await page(f, path);
    assert.equal(status, 422, path);
    assert.match(html, /class="field-error"/, path);
  }
});

usageTest("the usage page says so when nothing was used yet", async (f) => {
  for (const htmx of [false, true]) {
    const { status, html } = await page(f, "/usage", htmx);
    assert.equal(status, 200);
    assert.match(html, /No usage in this range yet/);
    assert.match(html, /<a href="\/usage\?range=7d" [^>]*aria-current="true">7 days<\/a>/);
    assert.equal(html.includes("<html"), !htmx);
  }
  const { html } = await page(f, "/requests");
  assert.match(html, /No request matches these filters/);
  assert.doesNotMatch(html, /rel="next"/, "no older page");
});

usageTest("the Usage and Requests pages filter by any spelling of a model", async (f) => {
  f.mock.update({ models: ["llama3:latest", "qwen3:latest"] });
  const { key } = await f.createKey({ name: "Alice" });
  for (const model of ["llama3", "llama3:latest", "qwen3"]) {
    await (await f.chat(key, { model })).body?.cancel();
  }
  for (const spelled of ["llama3", "LLaMA3:latest"]) {
    const model = encodeURIComponent(spelled);
    const usage = await page(f, `/usage?range=today&model=${model}`);
    assert.equal(usage.status, 200, spelled);
    assert.match(usage.html, /<span class="stat-value">2<\/span>/, `${spelled}: both requests`);
    // The recorded spelling is chosen in the list, not the text entered added to it.
    assert.match(usage.html, /<option value="llama3:latest" selected>llama3:latest<\/option>/);
    assert.doesNotMatch(usage.html, new RegExp(`<option value="${spelled}"`));
    const requests = await page(f, `/requests?range=today&model=${model}`);
    assert.equal(requests.status, 200, spelled);
    assert.equal([...requests.html.matchAll(/<tr data-id="\d+">/g)].length, 2, spelled);
  }
});

usageTest("the usage page charts, ranks and times what the gateway counted", async (f) => {
  f.mock.update({ models: ["llama3:latest", "qwen3:latest"] });
  const alice = await f.createKey({ name: "Alice", daily_request_limit: "2" });
  const bob = await f.createKey({ name: "Bob" });
  for (let i = 0; i < 3; i++) await (await f.chat(alice.key)).body?.cancel();
  for (let i = 0; i < 4; i++) await (await f.chat(bob.key, { model: "qwen3" })).body?.cancel();
  const { status, html } = await page(f, "/usage?range=today");
  assert.equal(status, 200);
  assert.match(html, /<span class="stat-value">7<\/span>/, "every request, the refusal too");
  assert.match(
    html,
    /<span class="legend-name">qwen3(:latest)?<\/span> <span class="muted">4<\/span>/,
  );
  assert.match(html, /<svg class="plot"[^>]*role="img"/);
  // 10:00 UTC is noon in Berlin: the busy quarter hour is named in APP_TZ.
  assert.match(html, /Busiest: Mon, 15 Jun 2026, 12:00–12:15 with 7 requests/);
  const top = /<table class="top-keys">([\s\S]*?)<\/table>/.exec(html)![1];
  assert.ok(top.indexOf(">Bob<") < top.indexOf(">Alice<"), "most requests first");
  assert.match(top, new RegExp(`href="/keys/${alice.id}">Alice</a>`));
  assert.match(
    top,
    /<li class="full"><span class="share">100 %<\/span> <span class="muted">of requests per day/,
  );
  const hits = /<table class="limit-hits">([\s\S]*?)<\/table>/.exec(html)![1];
  assert.match(hits, /Alice[\s\S]*?<td data-label="Refused" class="num">1<\/td>/);
  assert.match(hits, /1 request limits/);
  assert.doesNotMatch(hits, /Bob/);
  const models = /<table class="model-speeds">([\s\S]*?)<\/table>/.exec(html)![1];
  assert.match(models, /<code>qwen3(:latest)?<\/code>/);

  // Stacked by key, filtered to one key: the legend names keys.
  const byKey = await page(f, `/usage?range=today&by=key&key_id=${bob.id}`, true);
  assert.equal(byKey.status, 200);
  assert.match(byKey.html, /<span class="legend-name">Bob<\/span>/);
  assert.doesNotMatch(byKey.html, /<span class="legend-name">Alice<\/span>/);
  assert.match(byKey.html, new RegExp(`<option value="${bob.id}" selected>Bob</option>`));

  // The charts' numbers as CSV: one line per quarter hour, key and model.
  const csv = await f.request("/usage/export?range=today");
  assert.equal(csv.status, 200);
  assert.match(
    csv.headers.get("content-disposition")!,
    /filename="usage-2026-06-15-2026-06-15\.csv"/,
  );
  const lines = (await csv.text()).trim().split(/\r?\n/);
  assert.match(lines[0], /^period_local,period_utc,key_id,model,route,requests,/);
  assert.equal(lines.length, 1 + 2, "Alice's llama3 and Bob's qwen3 in one quarter hour");
  assert.ok(lines.some((l) => l.startsWith("2026-06-15T12:00:00+02:00,2026-06-15T10:00:00")));
  assert.match(html, /href="\/usage\/export\?range=today" download/);
  assert.equal((await f.request("/usage/export?from=x")).status, 422);
});

usageTest(
  "the request log pages by cursor: every request once while new ones arrive",
  async (f) => {
    const { key } = await f.createKey({ name: "Batch" });
    const total = 120;
    const start = f.clock.now().epochMilliseconds;
    for (let i = 0; i < total; i++) {
      // Pairs of requests in the same millisecond: the cursor must tell them apart by id.
      f.clock.set(new Date(start + Math.floor(i / 2) * 1_000).toISOString());
      await (await f.chat(key)).body?.cancel();
    }
    const seen: number[] = [];
    let path: string | null = "/requests?range=today";
    let pages = 0;
    while (path) {
      const { status, html } = await page(f, path, pages % 2 === 1);
      assert.equal(status, 200, path);
      seen.push(...[...html.matchAll(/<tr data-id="(\d+)">/g)].map((m) => Number(m[1])));
      assert.doesNotMatch(html, /\b\d+ of \d+\b|Page \d/, "no total, no page numbers");
      path = /<a class="btn secondary small" rel="next" href="([^"]+)"/.exec(html)?.[1]
        ?.replaceAll("&amp;", "&") ?? null;
      // A new request between two pages belongs to the newest page, not to an older one.
      await (await f.chat(key)).body?.cancel();
      pages++;
    }
    assert.equal(pages, 3);
    assert.equal(seen.length, total);
    assert.equal(new Set(seen).size, total, "no request twice");
    assert.deepEqual(seen, [...seen].sort((a, b) => b - a), "newest first");
  },
);

usageTest(
  "a page link keeps its range: 'today' paged after midnight still lists yesterday's rows",
  async (f) => {
    const { key } = await f.createKey({ name: "Batch" });
    const start = f.clock.now().epochMilliseconds;
    for (let i = 0; i < 60; i++) {
      f.clock.set(new Date(start + i * 1_000).toISOString());
      await (await f.chat(key)).body?.cancel();
    }
    const ids = (html: string) => [...html.matchAll(/<tr data-id="(\d+)">/g)].map((m) => +m[1]);
    const older = (html: string) =>
      /<a class="btn secondary small" rel="next" href="([^"]+)"/.exec(html)?.[1]
        ?.replaceAll("&amp;", "&");
    const first = await page(f, "/requests?range=today");
    const next = older(first.html)!;
    // The next day: "today" resolved again no longer holds these rows; the link's range does.
    f.clock.set("2026-06-16T12:00:00Z");
    await f.signIn(); // the session of yesterday has lapsed
    const second = await page(f, next);
    assert.equal(second.status, 200);
    const seen = [...ids(first.html), ...ids(second.html)];
    assert.equal(seen.length, 60);
    assert.equal(new Set(seen).size, 60, "each request once");
    assert.equal(older(second.html), undefined, "nothing older");
    // The link's cursor belongs to its filters: with another, it is refused on the form.
    const other = await page(f, next.replace("range=today", "range=today&model=qwen3"));
    assert.equal(other.status, 422);
    assert.match(other.html, /This page link is broken/);
  },
);

usageTest(
  "more usage rows than an answer may have: a message on the form, not a 500",
  async (f, dialect) => {
    // A model each in one bucket of today, straight into the rollups (key-less, and of key 1
    // for the download by key and model): 20,001 requests would take long.
    const bucket = Math.floor(f.clock.now().epochMilliseconds / 900_000) * 900_000;
    for (const [table, key] of [["usage_15m_all", ""], ["usage_15m", "1, "]]) {
      await rawQuery(
        dialect,
        f.deps.config.databaseUrl,
        `INSERT INTO ${table} (${key ? "key_id, " : ""}bucket, model, route, requests)
           WITH RECURSIVE n(i) AS (
             SELECT CAST(? AS INTEGER) UNION ALL SELECT i + 1 FROM n WHERE i < CAST(? AS INTEGER)
           )
           SELECT ${key}CAST(? AS BIGINT), 'm' || CAST(i AS TEXT), '/api/chat', 1 FROM n`,
        [1, MAX_USAGE_ROWS + 1, bucket],
      );
    }
    for (const htmx of [false, true]) {
      const { status, html } = await page(f, "/usage?range=today", htmx);
      assert.equal(status, 422);
      assert.match(html, /<p class="field-error" role="alert">This range has too many rows/);
    }
    // The Requests page lists no models then (too many to offer), but is shown.
    const requests = await page(f, "/requests?range=today");
    assert.equal(requests.status, 200);
    assert.doesNotMatch(requests.html, /<option value="m1">/);
    const download = await page(f, "/usage/export?range=today");
    assert.equal(download.status, 422, "the download too: a message, not a cut file");
    assert.match(download.html, /This range has too many rows/);
  },
);

usageTest("the export link carries what the page shows", async (f) => {
  const { id } = await f.createKey({ name: "Alice" });
  const { html } = await page(f, `/requests?range=30d&key_id=${id}&status=refused`);
  const href = /<a class="btn secondary small" href="([^"]+)" download/.exec(html)![1]
    .replaceAll("&amp;", "&");
  assert.equal(href, `/requests/export?range=30d&key_id=${id}&status=refused`);
});

usageTest("a key's page links to its usage and its requests", async (f) => {
  const { id } = await f.createKey({ name: "Alice" });
  const { html } = await page(f, `/keys/${id}`);
  assert.match(html, new RegExp(`<a href="/usage\\?key_id=${id}">Usage</a>`));
  assert.match(html, new RegExp(`<a href="/requests\\?key_id=${id}">Requests</a>`));
});

usageTest("the export downloads what the filters match, as CSV, on the session", async (f) => {
  const alice = await f.createKey({ name: "Alice", daily_request_limit: "1" });
  const bob = await f.createKey({ name: '=HYPERLINK("http://x")' });
  for (let i = 0; i < 3; i++) await (await f.chat(alice.key)).body?.cancel();
  await (await f.chat(bob.key)).body?.cancel();
  const res = await f.request(`/requests/export?range=today&key_id=${alice.id}&status=refused`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/csv; charset=utf-8");
  assert.match(
    res.headers.get("content-disposition")!,
    /^attachment; filename="requests-2026-06-15-2026-06-15\.csv"$/,
  );
  const lines = (await res.text()).trim().split(/\r?\n/);
  assert.equal(lines.length, 1 + 2, "a header and Alice's two refusals");
  assert.ok(lines.slice(1).every((l) => l.includes("Alice")));
  // Every row of the range, escaped against CSV injection.
  const all = await (await f.request("/requests/export?range=today")).text();
  assert.equal(all.trim().split(/\r?\n/).length, 1 + 4);
  assert.doesNotMatch(all, /(^|,)=HYPERLINK/m, "a cell starting with = is escaped");
  // Wrong filters: the page with the field marked, not a file.
  const bad = await f.request("/requests/export?from=2026-02-30");
  assert.equal(bad.status, 422);
  assert.match(await bad.text(), /not a date/);
  // Not signed in: no file.
  const anon = await f.request("/requests/export?range=today", { anonymous: true });
  await anon.body?.cancel();
  assert.equal(anon.status, 303);
});

usageTest(
  "the usage page's reads name their counters and show what reading all of them shows",
  async (f) => {
    f.mock.update({ models: ["llama3:latest", "qwen3:latest"] });
    const alice = await f.createKey({ name: "Alice", daily_request_limit: "2" });
    const bob = await f.createKey({ name: "Bob", daily_token_limit: "30" });
    for (let i = 0; i < 3; i++) await (await f.chat(alice.key)).body?.cancel();
    for (let i = 0; i < 4; i++) await (await f.chat(bob.key, { model: "qwen3" })).body?.cancel();
    const range = presetRange("today", f.clock.now(), f.deps.config.timeZone);
    assert.ok("fromMs" in range);
    const keys = await keyOptions(f.deps);
    // The same store, every usage read asking for every counter (the API's default).
    const store = f.deps.store;
    const asked: UsageQuery["counters"][] = [];
    const usage = (q: UsageQuery) => {
      asked.push(q.counters);
      return store.usage({ ...q, counters: "all" });
    };
    const allCounters = new Proxy(store, {
      get: (target, name) => {
        if (name === "usage") return usage;
        const value = Reflect.get(target, name, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as Store;
    const shown = (d: UsageData) => ({
      requests: d.requests,
      tokens: d.tokens,
      summary: d.summary,
      models: d.models,
      topKeys: d.topKeys.map(({ key: _, ...k }) => k),
      limitHits: d.limitHits.map((h) => ({
        id: h.id,
        name: h.name,
        counters: [
          h.counters.refused,
          h.counters.refused_requests,
          h.counters.refused_tokens,
          h.counters.refused_concurrent,
          h.counters.refused_other,
        ],
      })),
    });
    for (const by of ["model", "key"] as const) {
      const named = await loadUsage(f.deps, range, {}, by, keys);
      const all = await loadUsage({ ...f.deps, store: allCounters }, range, {}, by, keys);
      assert.deepEqual(shown(named), shown(all), by);
      assert.ok(named.limitHits.length === 2, "both keys hit a limit");
      assert.ok(named.tokens.length > 0 && named.topKeys.every((k) => k.tokens > 0));
    }
    // Only the per-model summary (latency percentiles) reads every counter.
    assert.deepEqual(asked.map((c) => c === undefined ? "all" : c.length).sort(), [
      3,
      3,
      3,
      3,
      5,
      5,
      "all",
      "all",
    ]);
  },
);
