/**
 * One rule for key names (core/key_name.ts) on every way in: the JSON API (create and rename),
 * the UI's create form and the CLI (cli_test.ts). Names are trimmed, 1 to 200 characters, and
 * free of control characters, line separators and bidirectional overrides.
 * @module
 */
import assert from "node:assert/strict";
import { checkKeyName } from "../../core/key_name.ts";
import { PASSWORD, type UiFixture, uiTest } from "./ui_fixture.ts";

const REFUSED = [
  "tab\there",
  "line\nbreak",
  "crlf\r\nrow",
  "\u001b[2J\u001b[31mred",
  "bell\u0007",
  "nul\u0000",
  "del\u007f",
  "c1\u0085next-line",
  "c1\u009b31m",
  "sep\u2028line",
  "para\u2029graph",
  "rlo\u202eevil",
  "isolate\u2066x\u2069",
];

Deno.test("the key name rule: trimmed, 1 to 200 characters, no control characters", () => {
  for (const name of REFUSED) {
    assert.deepEqual(checkKeyName(name), { problem: "control_character" }, JSON.stringify(name));
  }
  assert.deepEqual(checkKeyName("  "), { problem: "empty" });
  assert.deepEqual(checkKeyName("n".repeat(201)), { problem: "too_long" });
  assert.deepEqual(checkKeyName(`  ${"n".repeat(200)}  `), { name: "n".repeat(200) });
  // Characters, not UTF-16 units; emoji with joiners and accents are names like any other.
  assert.deepEqual(checkKeyName("🔑".repeat(200)), { name: "🔑".repeat(200) });
  for (const name of ["Jürgen's laptop", "日本語", "👩‍💻 team", "CI / nightly (v2)"]) {
    assert.deepEqual(checkKeyName(name), { name });
  }
});

function api(f: UiFixture, method: string, path: string, body: unknown) {
  return f.app.request(path, {
    method,
    headers: { authorization: `Bearer ${PASSWORD}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

uiTest("the API refuses such names with 422 naming the field, on create and rename", async (f) => {
  for (const name of [...REFUSED, "n".repeat(201), " "]) {
    const res = await api(f, "POST", "/api/api-keys", { name });
    assert.equal(res.status, 422, JSON.stringify(name));
    const body = await res.json();
    assert.equal(body.field, "name");
    assert.match(
      body.error,
      /^name: must (not contain control characters|be at most 200|not be empty)/,
    );
  }
  assert.equal((await f.deps.store.listKeys()).length, 0);

  const created = await api(f, "POST", "/api/api-keys", { name: `  ${"n".repeat(200)} ` });
  assert.equal(created.status, 201);
  const { id, name } = await created.json();
  assert.equal(name, "n".repeat(200), "trimmed, and 200 characters are allowed");
  for (const bad of REFUSED) {
    const res = await api(f, "PATCH", `/api/api-keys/${id}`, { name: bad });
    assert.equal(res.status, 422, JSON.stringify(bad));
    await res.body?.cancel();
  }
  assert.equal((await f.deps.store.listKeys())[0].name, "n".repeat(200));
  const wrongType = await api(f, "POST", "/api/api-keys", { name: 5 });
  assert.equal((await wrongType.json()).error, "name: must be a text");
});

uiTest("the create form refuses such names next to the field and creates nothing", async (f) => {
  await f.signIn();
  for (const name of REFUSED) {
    const res = await f.post("/keys", { name });
    assert.equal(res.status, 422, JSON.stringify(name));
    assert.match(await res.text(), /Use no tabs, line breaks or other control characters/);
  }
  const long = await f.post("/keys", { name: "n".repeat(201) });
  assert.match(await long.text(), /Use at most 200 characters/);
  const empty = await f.post("/keys", { name: "  " });
  assert.match(await empty.text(), /Give the key a name/);
  assert.equal((await f.deps.store.listKeys()).length, 0);
});
