/**
 * The admin analytics API on a real gateway and both databases: /api/usage, /api/requests
 * (keyset cursor), /api/export (streamed CSV and NDJSON, CSV injection escaped). Each test's
 * close() also audits the rollups against the ledger.
 * @module
 */
import assert from "node:assert/strict";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";
import { rawQuery } from "../support/raw_query.ts";
import { MAX_USAGE_ROWS } from "../../core/analytics/usage.ts";
import { canonicalModel } from "../../core/model_names.ts";

const chat = { model: "llama3", stream: false, messages: [{ role: "user", content: "hi" }] };

async function chatOnce(t: TestGateway, key: string, body: unknown = chat): Promise<number> {
  const res = await t.post("/api/chat", key, body);
  await res.body?.cancel();
  return res.status;
}

// deno-lint-ignore no-explicit-any
type Json = any;

async function json(t: TestGateway, path: string): Promise<{ status: number; body: Json }> {
  const res = await t.admin(path);
  return { status: res.status, body: await res.json() };
}

gatewayTest("GET /api/usage: day totals equal the quota counters; refusals counted", async (t) => {
  const { key, id } = await t.createKey({ daily_request_limit: 3 });
  for (let i = 0; i < 3; i++) assert.equal(await chatOnce(t, key), 200);
  assert.equal(await chatOnce(t, key), 429);
  const { status, body } = await json(t, `/api/usage?from=2026-06-15&to=2026-06-15&key_id=${id}`);
  assert.equal(status, 200);
  assert.equal(body.time_zone, "Europe/Berlin");
  assert.equal(body.rows.length, 1);
  const [day] = body.rows;
  assert.equal(day.period, "2026-06-15T00:00:00+02:00");
  assert.equal(day.requests, 4);
  assert.equal(day.ok, 3);
  assert.equal(day.refused, 1);
  assert.equal(day.refused_requests, 1);
  const usage = await t.usage(id);
  assert.equal(day.charged, usage.today.requests);
  assert.equal(day.prompt_tokens, usage.today.prompt_tokens);
  assert.equal(day.completion_tokens, usage.today.completion_tokens);
  assert.ok(day.ttfb_count >= 3, "time to first byte is recorded");
  // Native answers carry Ollama's own timings.
  assert.equal(day.timing_count, 3);
  const byModel = await json(t, `/api/usage?from=2026-06-15&group_by=model,key`);
  // Recorded canonically: the client's `llama3` is `llama3:latest`.
  assert.deepEqual(byModel.body.rows.map((r: Json) => [r.model, r.key_id, r.requests]), [[
    "llama3:latest",
    id,
    4,
  ]]);
});

gatewayTest(
  "llama3 and llama3:latest are one series in /api/usage; a filter by any spelling finds both",
  async (t) => {
    const { key } = await t.createKey();
    const spellings = ["llama3", "llama3:latest", "LLaMA3"];
    for (const model of spellings) {
      const res = await t.post("/api/chat", key, { ...chat, model });
      assert.equal(res.status, 200, model);
      assert.equal((await res.json()).model, model, "Ollama's answer names the model as asked");
    }
    // Ollama gets the body as the client sent it: only what the gateway records is canonical.
    const sent = t.mock.requests.filter((r) => r.path === "/api/chat");
    assert.deepEqual(sent.map((r) => (r.body as Json).model), spellings);
    const byModel = await json(t, "/api/usage?from=2026-06-15&group_by=model");
    assert.deepEqual(byModel.body.rows.map((r: Json) => [r.model, r.requests]), [[
      "llama3:latest",
      3,
    ]]);
    for (const spelled of ["llama3", "llama3:latest", "LLaMA3", "library/llama3"]) {
      const model = encodeURIComponent(spelled);
      const usage = await json(t, `/api/usage?from=2026-06-15&model=${model}`);
      assert.deepEqual(usage.body.rows.map((r: Json) => r.requests), [3], spelled);
      const log = await json(t, `/api/requests?from=2026-06-15&model=${model}`);
      assert.deepEqual(log.body.rows.map((r: Json) => r.model), Array(3).fill("llama3:latest"));
      const exported = await t.admin(
        `/api/export?dataset=requests&format=ndjson&from=2026-06-15&model=${model}`,
      );
      assert.equal((await exported.text()).trim().split("\n").length, 3, spelled);
    }
    const other = await json(t, "/api/usage?from=2026-06-15&model=llama3:8b");
    assert.deepEqual(other.body.rows, [], "another tag is another model");
    assert.deepEqual(await t.gateway.deps.store.auditRollups(), []);
  },
);

gatewayTest(
  "GET /api/usage and /api/requests: bad input is a 400 naming the parameter",
  async (t) => {
    const cases: Array<[string, string]> = [
      ["/api/usage?from=yesterday", "from"],
      ["/api/usage?to=2026-13-45", "to"],
      ["/api/usage?from=2026-06-15&to=2026-06-01", "to"],
      ["/api/usage?group_by=week", "group_by"],
      ["/api/usage?group_by=day,hour", "group_by"],
      ["/api/usage?group_by=15m&from=2020-01-01", "group_by"],
      ["/api/usage?key_id=abc", "key_id"],
      ["/api/usage?colour=red", "colour"],
      ["/api/requests?status=fine", "status"],
      ["/api/requests?limit=0", "limit"],
      ["/api/requests?limit=5000", "limit"],
      ["/api/requests?cursor=!!!", "cursor"],
      ["/api/export?dataset=keys", "dataset"],
      ["/api/export?dataset=requests&format=xlsx", "format"],
      // Clients that do not play fair: every one a 400 naming its parameter, none a 500.
      ["/api/usage?from=99999-01-01", "from"],
      ["/api/usage?from=0001-01-01", "from"],
      ["/api/usage?from=1969-12-31T23:59", "from"],
      ["/api/usage?from=2026-06-01&to=9999-01-01T00:00Z", "to"],
      ["/api/requests?to=275760-09-13", "to"],
      ["/api/usage?model=%00", "model"],
      ["/api/usage?route=a%1Bb", "route"],
      ["/api/requests?model=%C2%9B31m", "model"],
      ["/api/export?dataset=requests&model=%7F", "model"],
      ["/api/usage?from=2025-05-10", "from"],
      ["/api/usage?from=1970-01-01&to=9998-12-31&group_by=model", "from"],
      ["/api/usage?from=2026-06-01&group_by=15m", "group_by"],
      ["/api/usage?from=2026-03-01&group_by=hour,key", "group_by"],
      ["/api/export?dataset=usage&from=1970-01-01&group_by=month", "from"],
      [
        "/api/requests?cursor=" + btoa('{"s":"2026-06-15T10:00:00.000Z","i":1,"a":1,"b":2}'),
        "cursor",
      ],
    ];
    for (const [path, field] of cases) {
      const { status, body } = await json(t, path);
      assert.equal(status, 400, path);
      assert.equal(body.field, field, path);
      assert.match(body.error, new RegExp(`^${field}: `), path);
    }
  },
);

gatewayTest(
  "GET /api/requests pages newest first by cursor; a cursor of other filters is a 400",
  async (t) => {
    const { key, id } = await t.createKey();
    for (let i = 0; i < 7; i++) {
      t.clock.set(`2026-06-15T10:0${i}:00Z`);
      assert.equal(await chatOnce(t, key), 200);
    }
    const seen: number[] = [];
    let cursor = "";
    for (let page = 0; page < 5; page++) {
      const { status, body } = await json(t, `/api/requests?from=2026-06-15&limit=3${cursor}`);
      assert.equal(status, 200);
      seen.push(...body.rows.map((r: Json) => r.id));
      for (const r of body.rows) {
        assert.equal(r.key_id, id);
        assert.equal(r.status, "ok");
        assert.match(r.started_at_local, /\+02:00$/);
      }
      if (!body.next_cursor) break;
      cursor = `&cursor=${body.next_cursor}`;
    }
    assert.equal(seen.length, 7);
    assert.deepEqual(seen, [...seen].sort((a, b) => b - a));
    const first = await json(t, `/api/requests?from=2026-06-15&limit=3`);
    const other = await json(
      t,
      `/api/requests?from=2026-06-15&limit=3&model=qwen3&cursor=${first.body.next_cursor}`,
    );
    assert.equal(other.status, 400);
    assert.equal(other.body.field, "cursor");
  },
);

gatewayTest(
  "GET /api/requests: a relative range pages the same list after the clock moved on",
  async (t) => {
    const { key } = await t.createKey();
    // The oldest rows are in the first day of the default range (7 local days up to now)...
    for (let i = 0; i < 3; i++) {
      t.clock.set(`2026-06-09T08:0${i}:00Z`);
      assert.equal(await chatOnce(t, key), 200);
    }
    for (let i = 0; i < 2; i++) {
      t.clock.set(`2026-06-15T10:0${i}:00Z`);
      assert.equal(await chatOnce(t, key), 200);
    }
    const seen: number[] = [];
    const first = await json(t, "/api/requests?limit=2");
    assert.equal(first.status, 200);
    seen.push(...first.body.rows.map((r: Json) => r.id));
    // ...which a range resolved again tomorrow no longer holds; the cursor's range does.
    t.clock.set("2026-06-16T10:00:00Z");
    assert.equal(await chatOnce(t, key), 200);
    let cursor = first.body.next_cursor;
    while (cursor) {
      const { status, body } = await json(t, `/api/requests?limit=2&cursor=${cursor}`);
      assert.equal(status, 200, body.error);
      assert.equal(body.from, "2026-06-09T00:00:00.000+02:00", "the first page's range");
      seen.push(...body.rows.map((r: Json) => r.id));
      cursor = body.next_cursor;
    }
    assert.equal(seen.length, 5, "every row of the first page's list");
    assert.equal(new Set(seen).size, 5, "each exactly once");
    assert.deepEqual(seen, [...seen].sort((a, b) => b - a));
    // A cursor keeps refusing other filters, and the filters are still checked.
    const other = await json(
      t,
      `/api/requests?limit=2&route=/api/chat&cursor=${first.body.next_cursor}`,
    );
    assert.equal(other.status, 400);
    assert.equal(other.body.field, "cursor");
  },
);

gatewayTest(
  "more usage rows than an answer may have: a 400 saying so, for the export too, never cut short",
  async (t) => {
    // A model each in one bucket, straight into the rollup (20,001 requests would take long);
    // removed again before close() audits the rollups against the ledger.
    const bucket = Math.floor(t.clock.now().epochMilliseconds / 900_000) * 900_000;
    const rollup = (sql: string, params: number[] = []) =>
      rawQuery(t.dialect, t.db.url, sql, params);
    await rollup(
      `INSERT INTO usage_15m_all (bucket, model, route, requests)
         WITH RECURSIVE n(i) AS (
           SELECT CAST(? AS INTEGER) UNION ALL SELECT i + 1 FROM n WHERE i < CAST(? AS INTEGER)
         )
         SELECT CAST(? AS BIGINT), 'zz-' || CAST(i AS TEXT), '/api/chat', 1 FROM n`,
      [1, MAX_USAGE_ROWS + 1, bucket],
    );
    try {
      const { status, body } = await json(t, "/api/usage?group_by=model");
      assert.equal(status, 400);
      assert.equal(body.field, "group_by");
      assert.match(body.error, /more than 20000 rows: narrow the range or group_by/);
      assert.equal((await json(t, "/api/usage?group_by=route")).status, 200, "coarser is fine");
      // The export's first slice is read before the answer starts: a 400, not a cut body.
      const csv = await json(t, "/api/export?dataset=usage&group_by=model&format=ndjson");
      assert.equal(csv.status, 400);
      assert.equal(csv.body.field, "group_by");
    } finally {
      await rollup("DELETE FROM usage_15m_all WHERE model LIKE 'zz-%'");
    }
  },
);

gatewayTest("GET /api/export streams CSV with formula cells escaped, and NDJSON", async (t) => {
  // A refused request's model name is the client's text (recorded canonically: lower case, a
  // tag added, still starting with =): exactly what CSV injection uses.
  const { key } = await t.createKey({ daily_request_limit: 1 });
  assert.equal(await chatOnce(t, key), 200);
  const evil = '=HYPERLINK("http://x.example","y")';
  const recorded = canonicalModel(evil);
  assert.equal(recorded, '=hyperlink("http://x.example","y"):latest');
  assert.equal(await chatOnce(t, key, { ...chat, model: evil }), 429);
  const res = await t.admin("/api/export?dataset=requests&format=csv&from=2026-06-15");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/csv/);
  assert.equal(
    res.headers.get("content-disposition"),
    'attachment; filename="requests-2026-06-15-2026-06-15.csv"',
  );
  const csv = await res.text();
  const lines = csv.trimEnd().split("\r\n");
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^id,started_at_utc,started_at_local,key_id/);
  assert.ok(lines[1].includes(`"'=hyperlink(""http://x.example"",""y""):latest"`), lines[1]);
  assert.ok(!/(^|,)=/.test(lines[1]), "no cell starts with =");
  assert.ok(lines[1].includes(",refused,429,daily_requests,"));
  assert.ok(lines[2].includes("2026-06-15T10:00:00.000Z,2026-06-15T12:00:00.000+02:00"));

  const nd = await t.admin("/api/export?dataset=requests&format=ndjson&from=2026-06-15");
  const records = (await nd.text()).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(records.length, 2);
  assert.equal(records[0].model, recorded, "NDJSON keeps the text as recorded");

  const usage = await t.admin(
    "/api/export?dataset=usage&format=csv&from=2026-06-15&group_by=day,model",
  );
  const rows = (await usage.text()).trimEnd().split("\r\n");
  assert.match(rows[0], /^period_local,period_utc,key_id,model,route,requests/);
  assert.equal(rows.length, 3);
  assert.ok(
    rows.some((r) =>
      r.startsWith("2026-06-15T00:00:00+02:00,2026-06-14T22:00:00.000Z,,\"'=hyperlink")
    ),
  );
});

gatewayTest("GET /api/export of many pages keeps every row once, in order", async (t) => {
  const { key } = await t.createKey();
  // More than one export page (EXPORT_PAGE, 5,000 rows) would take long here; paging is tested
  // in tests/core/analytics_test.ts, this checks the stream the API sends ends whole.
  for (let i = 0; i < 12; i++) {
    t.clock.set(`2026-06-15T10:${String(i).padStart(2, "0")}:00Z`);
    assert.equal(await chatOnce(t, key), 200);
  }
  const res = await t.admin("/api/export?dataset=requests&format=ndjson&from=2026-06-15");
  const ids = (await res.text()).trim().split("\n").map((l) => JSON.parse(l).id);
  assert.equal(ids.length, 12);
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a));
});
