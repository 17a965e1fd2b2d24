import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import type { Page } from "playwright-core";
import { type TestGateway } from "../support/gateway.ts";
import {
  browserTest,
  htmxSettled,
  screenshot,
  screenshotOf,
  signIn,
  watchProblems,
} from "./browser.ts";

// Code run in the page is passed as text: it runs in Chromium, where `document` exists.
const CHAT = { stream: false, messages: [{ role: "user", content: "Hello" }] };

/** The rows of one key in the table, found by its name. */
function keyRows(page: Page, name: string) {
  return page.locator("tbody").filter({ has: page.locator(".key-name", { hasText: name }) });
}

async function chat(t: TestGateway, key: string, model?: string): Promise<number> {
  const res = await t.post("/api/chat", key, model ? { ...CHAT, model } : CHAT);
  await res.body?.cancel();
  return res.status;
}

browserTest(
  "an admin hands out a key, watches its quota, changes it and the settings",
  async (t, browser) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], {
      origin: t.gateway.adminUrl,
    });
    const page = await context.newPage();
    page.on("dialog", (dialog) => dialog.accept());
    const problems = watchProblems(page);
    // Two keys made on 15 Jun that go idle after 30 and 40 unused days; today is 20 Jul.
    const oldCi = await t.createKey({ name: "Old CI job", idle_days: 30 });
    await t.createKey({ name: "Nightly report", idle_days: 40 });
    t.clock.set("2026-07-20T10:00:00Z");

    await page.goto(t.gateway.adminUrl + "/login");
    await screenshot(page, "01-login");
    await signIn(page, t);

    // Create a key with a 2-request daily limit; its plaintext is shown once.
    await page.getByLabel("Name", { exact: true }).fill("Alice's laptop");
    await page.getByLabel("Requests per day").fill("2");
    await page.getByRole("button", { name: "Create key" }).click();
    const newKey = page.locator("#new-key");
    await newKey.waitFor();
    await htmxSettled(page);
    const key = await newKey.inputValue();
    assert.match(key, /^sk-[A-Za-z0-9_-]{43}$/);
    assert.ok(await page.getByText("it will not be shown again").isVisible());
    assert.equal(await page.evaluate("document.activeElement?.id === 'new-key'"), true, "focused");
    await page.getByRole("button", { name: "Copy key" }).click();
    await page.getByRole("button", { name: "Copied" }).waitFor();
    assert.equal(await page.evaluate("navigator.clipboard.readText()"), key);
    await screenshot(page, "02-keys-created");

    // Two calls pass; the table shows 2/2 in red; the plaintext is gone for good.
    assert.equal(await chat(t, key), 200);
    assert.equal(await chat(t, key), 200);
    await page.reload();
    const alice = keyRows(page, "Alice's laptop");
    const today = alice.locator('td[data-label="Today"] .usage').first();
    // The number, then "(limit reached)" for screen readers.
    assert.match(await today.locator(".usage-num").innerText(), /^2 \/ 2\s+\(limit reached\)$/);
    assert.match((await today.getAttribute("class"))!, /\bfull\b/);
    assert.equal(await page.locator("#new-key").count(), 0);
    assert.ok(!(await page.content()).includes(key));
    await screenshot(page, "03-keys-at-limit");

    // The third call is refused.
    assert.equal(await chat(t, key), 429);

    // A key for a batch job: one model family, 3 requests a minute, 2 at a time, short answers.
    await page.getByLabel("Name", { exact: true }).fill("Batch job");
    const more = page.locator("#create-key details.policy-more");
    assert.equal(await more.getAttribute("open"), null, "folded while nothing is set");
    await more.locator("summary").click();
    await page.getByLabel("Allowed models").fill("llama3, qwen3:*");
    await page.getByLabel("Requests per minute").fill("3");
    await page.getByLabel("Requests at a time").fill("2");
    await page.getByLabel("Longest answer (tokens)").fill("256");
    await screenshot(page, "16-create-policy");
    await page.getByRole("button", { name: "Create key" }).click();
    await newKey.waitFor();
    await htmxSettled(page);
    const batchKey = await newKey.inputValue();
    for (let i = 0; i < 3; i++) assert.equal(await chat(t, batchKey), 200);
    assert.equal(await chat(t, batchKey), 429, "the fourth request of the minute");
    assert.equal(await chat(t, batchKey, "llama3.2"), 403, "a model not on its list");
    assert.equal(
      (t.mock.requests.at(-1)!.body as { options?: { num_predict?: number } })
        .options?.num_predict,
      256,
    );
    await page.reload();
    const batch = keyRows(page, "Batch job");
    const now = batch.locator("td.usage-now .usage");
    assert.deepEqual(await now.locator(".usage-label").allInnerTexts(), [
      "Requests/min",
      "Running",
    ]);
    assert.match(await now.first().locator(".usage-num").innerText(), /^3 \/ 3\s+\(limit/);
    assert.equal(await now.nth(1).locator(".usage-num").innerText(), "0 / 2");
    assert.equal(
      await keyRows(page, "Alice's laptop").locator("td.usage-now").innerText(),
      "No rate limits",
    );
    // Idle keys: one stopped on 15 Jul, one stops in five days.
    const oldRows = keyRows(page, "Old CI job");
    assert.equal(await oldRows.locator(".badge").innerText(), "Idle too long");
    assert.equal(
      await oldRows.locator(".idle-note").innerText(),
      "Idle since 15 Jul 2026,\nunused for 35 days",
    );
    assert.equal(
      await keyRows(page, "Nightly report").locator(".idle-note").innerText(),
      "Goes idle on 25 Jul 2026",
    );
    await screenshot(page, "17-keys-policy");
    const table = await page.locator("#key-table").evaluate((
      el,
    ) => [el.scrollWidth, el.clientWidth]);
    assert.ok(table[0] <= table[1], `the table fits the page (${table[0]} > ${table[1]} px)`);
    await oldRows.getByRole("button", { name: /^Reactivate/ }).click();
    await oldRows.locator(".badge.active").waitFor();
    await htmxSettled(page);
    assert.equal(await oldRows.locator(".idle-note").count(), 0, "the clock restarted");
    assert.equal(await chat(t, oldCi.key), 200);

    // Its edit form opens with the policy unfolded; a higher rate applies at once.
    await batch.getByRole("link", { name: /^Edit/ }).click();
    const rpm = batch.getByLabel("Requests per minute");
    await rpm.waitFor();
    await htmxSettled(page);
    assert.equal(await batch.getByLabel("Allowed models").inputValue(), "llama3, qwen3:*");
    assert.equal(await batch.getByLabel("Longest answer (tokens)").inputValue(), "256");
    await rpm.fill("10");
    await screenshot(page, "18-edit-policy");
    await batch.getByRole("button", { name: "Save changes" }).click();
    await batch.locator(".edit-row").waitFor({ state: "detached" });
    await htmxSettled(page);
    assert.equal(await now.first().locator(".usage-num").innerText(), "3 / 10");
    assert.equal(await chat(t, batchKey), 200);

    // Raise the limit inline and rename the key: the call passes again.
    await alice.getByRole("link", { name: /^Edit/ }).click();
    const limit = alice.getByLabel("Requests per day");
    await limit.waitFor();
    await htmxSettled(page);
    assert.equal(await limit.inputValue(), "2");
    const name = alice.getByLabel("Name", { exact: true });
    assert.equal(await name.inputValue(), "Alice's laptop");
    await screenshot(page, "04-keys-editing");
    await limit.fill("5");
    await name.fill("Alice's laptop, home");
    await alice.getByRole("button", { name: "Save changes" }).click();
    await alice.locator(".edit-row").waitFor({ state: "detached" });
    await htmxSettled(page);
    assert.equal(await alice.locator(".key-name").innerText(), "Alice's laptop, home");
    assert.equal(await today.locator(".usage-num").innerText(), "2 / 5");
    assert.match((await today.getAttribute("class"))!, /\bok\b/, "green again below 80 %");
    assert.equal(await chat(t, key), 200);

    // Deactivate: the call gets 401. Activate: it works again.
    await alice.getByRole("button", { name: /^Deactivate/ }).click();
    await alice.getByText("Deactivated").waitFor();
    await htmxSettled(page);
    assert.equal(await chat(t, key), 401);
    await alice.getByRole("button", { name: /^Activate/ }).click();
    await alice.locator(".badge.active").waitFor();
    assert.equal(await chat(t, key), 200);

    // Settings: test the connection, pick another default model from the live list, set the
    // address clients use, save.
    await page.getByRole("link", { name: "Settings" }).click();
    await page.waitForURL(/\/settings$/);
    const [input, test] = await Promise.all([
      page.getByLabel("Ollama URL").boundingBox(),
      page.getByRole("button", { name: "Test connection" }).boundingBox(),
    ]);
    assert.ok(Math.abs(input!.y - test!.y) <= 2, "the button is level with the URL field");
    assert.ok(test!.x >= input!.x + input!.width, "and beside it");
    await page.getByRole("button", { name: "Test connection" }).click();
    await page.getByText("Connected to Ollama 0.33.0").waitFor();
    await htmxSettled(page);
    await screenshot(page, "05-settings-connection");
    await page.getByLabel("Default model").selectOption("llama3.2:latest");
    await page.getByLabel("Public URL").fill("https://llm.example.com/");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("Settings saved").waitFor();
    await screenshot(page, "06-settings-saved");
    assert.equal(await chat(t, key), 200);
    assert.equal((t.mock.requests.at(-1)!.body as { model: string }).model, "llama3.2:latest");

    // Models and Proxy info.
    await page.getByRole("link", { name: "Models" }).click();
    await page.getByRole("cell", { name: "llama3.2:latest" }).waitFor();
    assert.ok(await page.getByRole("cell", { name: "Q4_K_M" }).first().isVisible());
    // Who may use which model: the three keys without a list everywhere, the batch job on llama3.
    const keysOf = (model: string) =>
      page.locator("table.models tr").filter({ has: page.getByRole("cell", { name: model }) })
        .locator("td.model-keys");
    assert.equal(
      await keysOf("llama3:latest").innerText(),
      "3 keys without a model list\nBatch job",
    );
    assert.equal(await keysOf("llama3.2:latest").innerText(), "3 keys without a model list");
    assert.match(
      await page.locator(".notice.warning").innerText(),
      /Batch job: qwen3:\*/,
      "a list entry that matches nothing installed is pointed out",
    );
    await screenshot(page, "07-models");
    await page.getByRole("link", { name: "Proxy info" }).click();
    await page.waitForURL(/\/proxy$/);
    const publicUrl = "https://llm.example.com";
    assert.equal(await page.locator("#url-openai").innerText(), `${publicUrl}/v1`);
    assert.match(await page.locator("#url-source").innerText(), /the Public URL in Settings/);
    const curl = await page.locator("#snippet-curl-ollama").innerText();
    assert.ok(curl.includes(`curl ${publicUrl}/api/chat`));
    assert.ok(curl.includes('"model": "llama3.2:latest"'));
    await page.getByRole("button", { name: "Copy URL" }).first().click();
    assert.equal(await page.evaluate("navigator.clipboard.readText()"), publicUrl);
    await screenshot(page, "08-proxy-info");

    // A key with a past expiry is asked about once, then created expired; filter; delete.
    await page.getByRole("link", { name: "Keys" }).click();
    await page.getByLabel("Name", { exact: true }).fill("Build server");
    await page.getByLabel("Valid through").fill("2020-01-01");
    await page.getByRole("button", { name: "Create key" }).click();
    const warning = page.locator("#expires_on-warning");
    await warning.waitFor();
    await htmxSettled(page);
    assert.match(await warning.innerText(), /^1 Jan 2020 is in the past/);
    assert.equal(await keyRows(page, "Build server").count(), 0, "not created yet");
    await screenshot(page, "14-create-past-expiry");
    await page.getByRole("button", { name: "Create it expired" }).click();
    await keyRows(page, "Build server").waitFor();
    await htmxSettled(page);
    const build = keyRows(page, "Build server");
    assert.equal(await build.locator(".badge").innerText(), "Expired");
    assert.equal(await build.locator(".expiry").innerText(), "Expired on 1 Jan 2020");
    await page.getByLabel("Filter by name").fill("build");
    await page.waitForURL(/name=build/);
    await keyRows(page, "Alice's laptop").waitFor({ state: "detached" });
    assert.equal(await page.locator("table.keys tbody").count(), 1);
    await htmxSettled(page);
    await keyRows(page, "Build server").getByRole("link", { name: /^Delete/ }).click();
    await page.getByText("Key “Build server” deleted.").waitFor();
    assert.equal(await page.locator("table.keys tbody").count(), 0);
    await page.getByLabel("Filter by name").fill("");
    await keyRows(page, "Alice's laptop").waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);

    assert.deepEqual(problems, [], "no script error or CSP violation on any page");
    await context.close();
  },
);

browserTest("the pages work on a phone screen", async (t, browser) => {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
  });
  const page = await context.newPage();
  const problems = watchProblems(page);
  // Made on 15 Jun, unused for 30 days: idle since 15 Jul; today is 20 Jul.
  await t.createKey({ name: "Idle", idle_days: 30 });
  t.clock.set("2026-07-20T10:00:00Z");
  const { key } = await t.createKey({
    name: "Phone test",
    daily_request_limit: 10,
    requests_per_minute: 20,
    max_concurrent: 2,
    models: ["llama3"],
  });
  for (let i = 0; i < 9; i++) assert.equal(await chat(t, key), 200);
  await t.createKey({ name: "Unlimited" });
  const old = await t.createKey({ name: "Old", expires_at: "2020-01-01", daily_token_limit: 1 });
  await (await t.admin(`/api/api-keys/${old.id}/deactivate`, { method: "PUT" })).body?.cancel();
  await signIn(page, t);
  const width = await page.evaluate<number>("document.documentElement.scrollWidth");
  assert.ok(width <= 390, `no sideways scrolling (page is ${width}px wide)`);
  const bar = keyRows(page, "Phone test").locator('td[data-label="Today"] .usage').first();
  assert.match((await bar.getAttribute("class"))!, /\bnear\b/, "amber at 9 of 10");
  const live = keyRows(page, "Phone test").locator("td.usage-now .usage-num");
  assert.deepEqual(await live.allInnerTexts(), ["9 / 20", "0 / 2"]);
  assert.equal(await keyRows(page, "Old").locator(".expiry").innerText(), "Expired on 1 Jan 2020");
  assert.match(await keyRows(page, "Idle").locator(".idle-note").innerText(), /^Idle since 15 Jul/);
  // Without rate limits the card has no "Now" line at all.
  assert.equal(await keyRows(page, "Unlimited").locator("td.usage-now").isVisible(), false);
  await screenshot(page, "09-keys-phone");
  // A key is a dense card: a screen holds three of them (each one was ~430 px high).
  for (const name of ["Unlimited", "Old", "Idle"]) {
    const card = (await keyRows(page, name).boundingBox())!;
    assert.ok(card.height <= 270, `the card of ${name} is ${card.height}px high`);
  }
  // Rate limits add their lines, and no more.
  const card = (await keyRows(page, "Phone test").boundingBox())!;
  assert.ok(card.height <= 330, `the card of Phone test is ${card.height}px high`);
  // The policy fields, unfolded, on a phone: nothing runs off the screen.
  await page.getByLabel("Name", { exact: true }).fill("Phone form");
  await page.locator("#create-key details.policy-more summary").click();
  await page.getByLabel("Allowed models").fill("qwen*");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.locator("#models-error").waitFor();
  await htmxSettled(page);
  assert.match(await page.locator("#models-error").innerText(), /qwen3:\*/);
  assert.ok(await page.locator("#create-key details.policy-more[open]").isVisible());
  const formWidth = await page.evaluate<number>("document.documentElement.scrollWidth");
  assert.ok(formWidth <= 390, `the form is ${formWidth}px wide`);
  await screenshotOf(page.locator("#create-key"), "19-create-policy-phone");
  for (const path of ["/settings", "/models", "/proxy"]) {
    await page.goto(t.gateway.adminUrl + path);
    const w = await page.evaluate<number>("document.documentElement.scrollWidth");
    assert.ok(w <= 390, `${path} is ${w}px wide`);
    if (path === "/models") await screenshot(page, "20-models-phone");
  }
  // The proxy listens on 127.0.0.1 in tests: the page says the address works on this machine only.
  assert.match(await page.locator("#url-source").innerText(), /works only on the gateway's own/);
  await screenshot(page, "12-proxy-info-phone");

  // Settings: "Test connection" sits right under the URL's hint and clear of the next label.
  await page.goto(t.gateway.adminUrl + "/settings");
  const [hint, test, label] = await Promise.all([
    page.locator("#ollama_url-hint").boundingBox(),
    page.getByRole("button", { name: "Test connection" }).boundingBox(),
    page.locator('label[for="default_model"]').boundingBox(),
  ]);
  const above = test!.y - (hint!.y + hint!.height);
  const below = label!.y - (test!.y + test!.height);
  assert.ok(above >= 4 && above <= 16, `${above}px between the hint and the button`);
  assert.ok(below >= 8, `${below}px between the button and the "Default model" label`);
  await screenshot(page, "15-settings-phone");
  assert.deepEqual(problems, []);
  await context.close();
});

browserTest("without JavaScript every form still works by plain POST", async (t, browser) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page, t);
  // The server's check (the browser's own ones cannot be bypassed by typing), then a fix.
  await page.getByLabel("Name", { exact: true }).fill("n".repeat(201));
  await page.getByLabel("Tokens per day").fill("1000");
  await page.getByRole("button", { name: "Create key" }).click();
  assert.ok(await page.getByText("Use at most 200 characters").isVisible());
  assert.equal(await page.getByLabel("Tokens per day").inputValue(), "1000", "value kept");
  await screenshot(page, "10-create-error-nojs");
  // A past expiry is asked about without JavaScript too; the date corrected, the key is created.
  await page.getByLabel("Name", { exact: true }).fill("No-JS key");
  await page.getByLabel("Valid through").fill("2020-01-01");
  await page.getByRole("button", { name: "Create key" }).click();
  assert.match(await page.locator("#expires_on-warning").innerText(), /is in the past/);
  assert.ok(await page.getByRole("button", { name: "Create it expired" }).isVisible());
  await page.getByLabel("Valid through").fill("");
  // The folded policy opens without a script (<details>); a bad entry is refused, then fixed.
  await page.locator("#create-key details.policy-more summary").click();
  await page.getByLabel("Allowed models").fill("llama3 qwen*");
  await page.getByRole("button", { name: "Create key" }).click();
  assert.match(await page.locator("#models-error").innerText(), /a \* stands only for a whole tag/);
  assert.equal(await page.getByLabel("Allowed models").inputValue(), "llama3 qwen*", "value kept");
  await page.getByLabel("Allowed models").fill("llama3");
  await page.getByLabel("Requests at a time").fill("1");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = await page.locator("#new-key").inputValue();
  assert.match(key, /^sk-/);
  assert.equal(await page.getByRole("button", { name: "Copy key" }).isVisible(), false);
  assert.equal(await chat(t, key), 200);
  assert.equal(await chat(t, key, "llama3.2"), 403, "only llama3");

  const rows = keyRows(page, "No-JS key");
  await rows.getByRole("link", { name: /^Edit/ }).click();
  await page.waitForURL(/\/keys\/\d+\/edit$/);
  assert.equal(await rows.getByLabel("Allowed models").inputValue(), "llama3", "unfolded");
  assert.equal(await rows.getByLabel("Requests at a time").inputValue(), "1");
  await rows.getByLabel("Requests per day").fill("0");
  await rows.getByRole("button", { name: "Save changes" }).click();
  await page.waitForURL(/\/keys$/);
  assert.equal(await chat(t, key), 429, "0 blocks the key");

  await keyRows(page, "No-JS key").getByRole("link", { name: /^Delete/ }).click();
  await page.getByRole("heading", { name: "Delete the key “No-JS key”?" }).waitFor();
  await screenshot(page, "11-delete-confirm-nojs");
  await page.getByRole("button", { name: "Delete key" }).click();
  await page.waitForURL(/\/keys$/);
  assert.ok(await page.getByText("No keys yet").isVisible());
  assert.equal(await chat(t, key), 401);
  await context.close();
});

browserTest("a key name with markup is shown as text, never run", async (t, browser) => {
  const page = await browser.newPage();
  let dialogs = 0;
  page.on("dialog", (d) => {
    dialogs++;
    d.dismiss();
  });
  await signIn(page, t);
  const evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
  await page.getByLabel("Name", { exact: true }).fill(evil);
  await page.getByRole("button", { name: "Create key" }).click();
  await page.locator("#new-key").waitFor();
  await page.reload();
  assert.equal(await page.locator(".key-name").first().innerText(), evil);
  assert.equal(await page.locator("main img").count(), 0);
  assert.equal(dialogs, 0);
});

browserTest(
  "with Ollama down, Settings shows the exact error and takes a typed model",
  async (t, browser) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems = watchProblems(page);
    const { key } = await t.createKey({ name: "Alice" });
    await signIn(page, t);
    await page.getByRole("link", { name: "Settings" }).click();
    const url = page.getByLabel("Ollama URL");
    await url.fill("http://127.0.0.1:9");
    await page.getByRole("button", { name: "Test connection" }).click();
    const error = page.getByRole("alert");
    await error.waitFor();
    await htmxSettled(page);
    assert.match(await error.innerText(), /^Cannot reach Ollama at http:\/\/127\.0\.0\.1:9: .+/);
    // The model choice falls back to a text field, keeping the current model.
    const model = page.getByLabel("Default model");
    assert.equal(await model.evaluate((el) => el.tagName), "INPUT");
    assert.equal(await model.inputValue(), "llama3:latest");
    await screenshot(page, "13-settings-ollama-down");

    // Back to the working URL, with a model typed by hand: the next request uses it.
    await url.fill(t.mock.url);
    await model.fill("llama3.2:latest");
    await model.press("Enter");
    await page.getByText("Settings saved").waitFor();
    assert.equal(await chat(t, key), 200);
    assert.equal((t.mock.requests.at(-1)!.body as { model: string }).model, "llama3.2:latest");
    assert.deepEqual(problems, []);
  },
);

/** A link of the main navigation. */
function nav(page: Page, name: string) {
  return page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
}

const JWT_SECRET = "open-webui-shared-secret-0123456789";

/** An HS256 token as Open WebUI signs it, valid at the test gateway's clock. */
function openWebUiJwt(sub: string, name: string, secret = JWT_SECRET): string {
  const b64url = (bytes: Uint8Array | string) =>
    btoa(typeof bytes === "string" ? bytes : String.fromCharCode(...bytes))
      .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const now = Date.parse("2026-06-15T10:00:00Z") / 1000;
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify({
    sub,
    name,
    email: `${sub}@example.com`,
    role: "user",
    iss: "open-webui",
    iat: now,
    exp: now + 300,
  }));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(new Uint8Array(sig))}`;
}

/** A chat request as Open WebUI sends it for a person (none: a call that names nobody). */
async function chatAs(t: TestGateway, key: string, person?: [string, string]): Promise<number> {
  const headers = person ? { "X-OpenWebUI-User-Jwt": openWebUiJwt(...person) } : undefined;
  const res = await t.post("/api/chat", key, CHAT, headers);
  await res.body?.cancel();
  return res.status;
}

/** The rows of one person in a key's people list. */
function memberRows(page: Page, name: string) {
  return page.locator("table.members tbody").filter({
    has: page.locator(".person-name", { hasText: name }),
  });
}

browserTest(
  "an admin gives a team a shared budget and the people behind Open WebUI their own quotas",
  async (t, browser) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on("dialog", (dialog) => dialog.accept());
    const problems = watchProblems(page);
    const laptop = await t.createKey({ name: "Research laptop", daily_request_limit: 100 });
    const ciKey = await t.createKey({ name: "Research CI", monthly_token_limit: 5_000_000 });
    const chatKey = await t.createKey({ name: "Company chat" });
    await signIn(page, t);

    // A group with a tight day: 3 requests for all its keys together, 2 M tokens a month.
    await nav(page, "Groups").click();
    await page.waitForURL(/\/groups$/);
    assert.ok(await page.getByText("No groups yet").isVisible());
    await page.getByLabel("Name", { exact: true }).fill("Research");
    await page.getByLabel("Requests per day").fill("3");
    await page.getByLabel("Tokens per month").fill("2000000");
    await page.getByRole("button", { name: "Create group" }).click();
    await page.getByText("Group “Research” created.").waitFor();
    await htmxSettled(page);
    const research = page.locator("article.group").filter({ hasText: "Research" });
    assert.match(await research.innerText(), /None yet: choose this group/);

    // One key joins on its own page, the other through the Keys page's edit form.
    await nav(page, "Keys").click();
    await keyRows(page, "Research laptop").getByRole("link", {
      name: "Research laptop",
      exact: true,
    })
      .click();
    await page.waitForURL(/\/keys\/\d+$/);
    await page.getByLabel("Group").selectOption({ label: "Research" });
    await page.getByRole("button", { name: "Save group" }).click();
    await page.getByText("Now in the group “Research”.").waitFor();
    await htmxSettled(page);
    const dayLimit = page.locator('tr[data-limit="daily_request_limit"]');
    assert.match(await dayLimit.innerText(), /3 requests per day\s+Group “Research”/);
    assert.match(
      await page.locator('tr[data-limit="monthly_token_limit"]').innerText(),
      /2,000,000 tokens per month\s+Group “Research”/,
    );
    await nav(page, "Keys").click();
    const ci = keyRows(page, "Research CI");
    await ci.getByRole("link", { name: /^Edit/ }).click();
    await ci.getByLabel("Group").waitFor();
    await htmxSettled(page);
    await ci.getByLabel("Group").selectOption({ label: "Research" });
    await ci.getByRole("button", { name: "Save changes" }).click();
    await ci.locator(".edit-row").waitFor({ state: "detached" });
    await htmxSettled(page);
    assert.equal(await ci.locator(".key-tags .chip").innerText(), "Group\nResearch");

    // Two requests of the laptop and one of CI use up the group's day; the laptop's own 100 don't.
    assert.equal(await chat(t, laptop.key), 200);
    assert.equal(await chat(t, laptop.key), 200);
    await nav(page, "Groups").click();
    const today = research.locator(".group-usage .usage").first();
    assert.equal(await today.locator(".usage-num").innerText(), "2 / 3");
    assert.match((await today.getAttribute("class"))!, /\bok\b/);
    assert.deepEqual(await research.locator(".key-chips a").allInnerTexts(), [
      "Research CI",
      "Research laptop",
    ]);
    await screenshot(page, "21-groups");
    assert.equal(await chat(t, ciKey.key), 200);
    assert.equal(await chat(t, laptop.key), 429, "the group's day is used up");
    await page.goto(`${t.gateway.adminUrl}/keys/${laptop.id}`);
    const byGroup = page.locator('tr[data-limit="daily_request_limit"] .usage');
    assert.match((await byGroup.getAttribute("class"))!, /\bfull\b/);
    assert.match(await byGroup.locator(".usage-num").innerText(), /^3 \/ 3/, "the group's count");
    await screenshot(page, "26-key-in-group");

    // Deleting a group with keys asks, names them, and detaches them.
    await nav(page, "Groups").click();
    await research.getByRole("link", { name: /^Delete/ }).click();
    await page.waitForURL(/\/groups\/\d+\/delete$/);
    assert.match(await page.locator("main").innerText(), /still has 2 keys/);
    await screenshot(page, "22-group-delete-confirm");
    await page.getByRole("link", { name: "Cancel" }).click();
    await page.waitForURL(/\/groups$/);

    // The chat key tells people apart by Open WebUI's signed token; each person gets 2 a day.
    await page.goto(`${t.gateway.adminUrl}/keys/${chatKey.id}`);
    assert.equal(await page.locator("#members").count(), 0, "no people list for a plain key");
    assert.equal(await page.getByLabel("Trusted addresses").isVisible(), false, "folded away");
    await page.getByLabel("Yes, from Open WebUI's signed token (recommended)").check();
    assert.ok(await page.getByLabel("Trusted addresses").isVisible());
    await page.locator("#delegation-member_daily_request_limit").fill("2");
    await page.getByRole("button", { name: "Save per-person settings" }).click();
    const secretError = page.locator("#delegation-identity_secret-error");
    await secretError.waitFor();
    await htmxSettled(page);
    assert.match(await secretError.innerText(), /needs the secret/);
    await page.getByLabel("Secret", { exact: true }).fill(JWT_SECRET);
    await page.getByRole("button", { name: "Save per-person settings" }).click();
    await page.getByText("Saved. The next request with this key uses these settings.").waitFor();
    await htmxSettled(page);
    assert.match(await page.locator(".secret-state").innerText(), /set\. It is never shown/);
    assert.equal(await page.getByLabel("Replace the secret").inputValue(), "");

    // Three people and one call that names nobody.
    for (const person of [["u-alice", "Alice Example"], ["u-bob", "Bob"], ["u-carol", "Carol"]]) {
      assert.equal(await chatAs(t, chatKey.key, person as [string, string]), 200);
    }
    assert.equal(await chatAs(t, chatKey.key, ["u-alice", "Alice Example"]), 200);
    assert.equal(await chatAs(t, chatKey.key, ["u-alice", "Alice Example"]), 429, "her 2 a day");
    assert.equal(await chatAs(t, chatKey.key), 200, "unattributed");
    await page.reload();
    assert.equal(await page.locator("table.members tbody").count(), 4);
    const alice = memberRows(page, "Alice Example");
    assert.match(await alice.locator(".usage.full .usage-num").first().innerText(), /^2 \/ 2/);
    assert.match(await alice.innerText(), /u-alice@example\.com/);
    assert.ok(await memberRows(page, "unattributed").isVisible());

    // Search, block Bob, give Alice more.
    await page.getByLabel("Search people").fill("BOB");
    await page.locator("table.members tbody").nth(1).waitFor({ state: "detached" });
    await htmxSettled(page);
    assert.equal(await page.locator("table.members tbody").count(), 1);
    const bob = memberRows(page, "Bob");
    await bob.getByRole("button", { name: /^Block/ }).click();
    await bob.locator(".badge.blocked").waitFor();
    await htmxSettled(page);
    assert.equal(await chatAs(t, chatKey.key, ["u-bob", "Bob"]), 403, "blocked");
    await page.getByLabel("Search people").fill("");
    await alice.waitFor();
    await htmxSettled(page);
    await alice.getByRole("link", { name: /^Limits/ }).click();
    const own = alice.getByLabel("Requests per day");
    await own.waitFor();
    await htmxSettled(page);
    assert.equal(await own.inputValue(), "2", "starts from the template");
    await own.fill("10");
    await alice.getByRole("button", { name: "Save limits" }).click();
    await alice.locator(".edit-row").waitFor({ state: "detached" });
    await htmxSettled(page);
    assert.equal(await alice.locator(".limits-source").innerText(), "Own limits");
    assert.equal(await chatAs(t, chatKey.key, ["u-alice", "Alice Example"]), 200, "3 of 10");
    await page.reload();
    await screenshot(page, "23-key-delegating");
    const html = await page.content();
    assert.ok(!html.includes(JWT_SECRET), "the secret is never on the page");

    // Proxy info: what to set in Open WebUI for the key.
    await nav(page, "Proxy info").click();
    const env = await page.locator(`#openwebui-key-${chatKey.id}-env`).innerText();
    assert.match(
      env,
      /^# Open WebUI, for the key “Company chat”\nENABLE_FORWARD_USER_INFO_HEADERS=true\nFORWARD_USER_INFO_HEADER_JWT_SECRET=<the secret entered on the key's page>\n/,
    );
    assert.ok(env.includes(`OPENAI_API_BASE_URL=${t.gateway.proxyUrl}/v1`));
    assert.ok(!(await page.content()).includes(JWT_SECRET));
    await screenshot(page, "24-proxy-openwebui");

    // Plain headers instead: the Proxy info page warns whom they trust.
    await page.goto(`${t.gateway.adminUrl}/keys/${chatKey.id}`);
    await page.getByLabel("Yes, from Open WebUI's plain headers").check();
    await page.getByLabel(
      "Clear the secret (only with plain headers, or when people are not told apart)",
    ).check();
    await page.getByRole("button", { name: "Save per-person settings" }).click();
    await page.getByText("Saved. The next request with this key uses these settings.").waitFor();
    await htmxSettled(page);
    assert.match(await page.locator(".secret-state").innerText(), /none set/);
    await nav(page, "Proxy info").click();
    const card = page.locator(`#openwebui-key-${chatKey.id}`);
    assert.match(
      await card.locator(".notice.warning").innerText(),
      /Anyone who holds this key and can reach the gateway from 127\.0\.0\.1\/32, ::1\/128/,
    );
    assert.doesNotMatch(await card.locator("pre").innerText(), /JWT_SECRET=/);
    await screenshot(page, "25-proxy-openwebui-headers");

    assert.deepEqual(problems, [], "no script error or CSP violation on any page");
    await context.close();
  },
);

browserTest("groups, a key's people and Open WebUI's settings fit a phone", async (t, browser) => {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
  });
  const page = await context.newPage();
  const problems = watchProblems(page);
  const group = await t.admin("/api/groups", {
    method: "POST",
    body: JSON.stringify({
      name: "Research and development",
      daily_token_limit: 100,
      monthly_request_limit: 1000,
      requests_per_minute: 30,
      models: ["llama3", "qwen3:*"],
    }),
  });
  const { id: groupId } = await group.json();
  const member = await t.createKey({
    name: "R&D laptop",
    group_id: groupId,
    daily_request_limit: 50,
  });
  assert.equal(await chat(t, member.key), 200);
  const chatKey = await t.createKey({
    name: "Company chat",
    identity: "openwebui-jwt",
    identity_secret: JWT_SECRET,
    member_limits: { daily_request_limit: 2, daily_token_limit: 1000 },
  });
  const people: Array<[string, string]> = [
    ["u-1", "Anna Maria Longname-Example"],
    ["u-2", "Ben"],
  ];
  for (const person of people) assert.equal(await chatAs(t, chatKey.key, person), 200);
  assert.equal(await chatAs(t, chatKey.key), 200);
  await signIn(page, t);
  const pages = [
    ["/groups", "27-groups-phone"],
    [`/keys/${member.id}`, "28-key-in-group-phone"],
    [`/keys/${chatKey.id}`, "29-key-delegating-phone"],
    ["/proxy", "30-proxy-openwebui-phone"],
  ];
  for (const [path, name] of pages) {
    await page.goto(t.gateway.adminUrl + path);
    const width = await page.evaluate<number>("document.documentElement.scrollWidth");
    assert.ok(width <= 390, `${path} is ${width}px wide`);
    await screenshot(page, name);
  }
  // A person is a compact card: name and status side by side, the bars below.
  await page.goto(`${t.gateway.adminUrl}/keys/${chatKey.id}`);
  const ben = memberRows(page, "Ben");
  const card = (await ben.boundingBox())!;
  assert.ok(card.height <= 300, `Ben's card is ${card.height}px high`);
  const [name, status] = await Promise.all([
    ben.locator(".person-name").boundingBox(),
    ben.locator(".badge").boundingBox(),
  ]);
  assert.ok(Math.abs(name!.y - status!.y) <= 6, "the status is beside the name");
  // Editing a person's limits fits the screen too.
  await ben.getByRole("link", { name: /^Limits/ }).click();
  await ben.getByLabel("Requests per day").waitFor();
  await htmxSettled(page);
  const width = await page.evaluate<number>("document.documentElement.scrollWidth");
  assert.ok(width <= 390, `the limits form is ${width}px wide`);
  await screenshotOf(page.locator("#members"), "31-member-limits-phone");
  assert.deepEqual(problems, []);
  await context.close();
});

browserTest(
  "without JavaScript, groups, per-person settings and people work",
  async (t, browser) => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const team = await t.createKey({ name: "Team key" });
    await signIn(page, t);
    await page.goto(`${t.gateway.adminUrl}/groups`);
    await page.getByLabel("Name", { exact: true }).fill("Ops");
    await page.getByLabel("Requests per day").fill("5");
    await page.getByRole("button", { name: "Create group" }).click();
    await page.getByText("Group “Ops” created.").waitFor();
    // The server's check (the browser's own ones cannot be bypassed by typing), values kept.
    await page.getByLabel("Name", { exact: true }).fill("Ops");
    await page.getByLabel("Tokens per day").fill("1000");
    await page.getByRole("button", { name: "Create group" }).click();
    assert.match(await page.locator("#new-group-name-error").innerText(), /exists already/);
    assert.equal(await page.getByLabel("Tokens per day").inputValue(), "1000", "value kept");

    // The key joins on its page, and starts telling people apart by plain headers.
    await page.goto(`${t.gateway.adminUrl}/keys/${team.id}`);
    await page.getByLabel("Group").selectOption({ label: "Ops" });
    await page.getByRole("button", { name: "Save group" }).click();
    await page.getByText("Now in the group “Ops”.").waitFor();
    await page.getByLabel("Yes, from Open WebUI's plain headers").check();
    await page.getByLabel("Trusted addresses").fill("127.0.0.1/32 not-an-address");
    await page.getByRole("button", { name: "Save per-person settings" }).click();
    assert.match(
      await page.locator("#delegation-trusted_peers-error").innerText(),
      /“not-an-address” is not an IP address/,
    );
    await page.getByLabel("Trusted addresses").fill("127.0.0.1/32, ::1/128");
    await page.getByRole("button", { name: "Save per-person settings" }).click();
    await page.getByText("Saved. The next request with this key uses these settings.").waitFor();

    // Two people; one is blocked, the other gets limits of their own, then the template again.
    for (const [id, name] of [["u-dana", "Dana"], ["u-eve", "Eve"]]) {
      const res = await t.post("/api/chat", team.key, CHAT, {
        "X-OpenWebUI-User-Id": id,
        "X-OpenWebUI-User-Name": name,
      });
      await res.body?.cancel();
      assert.equal(res.status, 200);
    }
    await page.reload();
    await memberRows(page, "Eve").getByRole("button", { name: /^Block/ }).click();
    await page.waitForURL(/\/keys\/\d+#member-\d+$/);
    assert.ok(await memberRows(page, "Eve").locator(".badge.blocked").isVisible());
    const eve = await t.post("/api/chat", team.key, CHAT, { "X-OpenWebUI-User-Id": "u-eve" });
    await eve.body?.cancel();
    assert.equal(eve.status, 403, "blocked");
    const dana = memberRows(page, "Dana");
    await dana.getByRole("link", { name: /^Limits/ }).click();
    await page.waitForURL(/\/members\/\d+\/edit/);
    await dana.getByLabel("Requests per day").fill("1");
    await dana.getByRole("button", { name: "Save limits" }).click();
    await page.waitForURL(/#member-\d+$/);
    assert.equal(await dana.locator(".limits-source").innerText(), "Own limits");
    const refused = await t.post("/api/chat", team.key, CHAT, { "X-OpenWebUI-User-Id": "u-dana" });
    await refused.body?.cancel();
    assert.equal(refused.status, 429, "her one request a day is used");
    await dana.getByRole("link", { name: /^Limits/ }).click();
    await dana.getByRole("button", { name: "Back to the key's template" }).click();
    await page.waitForURL(/#member-\d+$/);
    assert.equal(await dana.locator(".limits-source").innerText(), "Key's template");
    await screenshot(page, "32-key-people-nojs");

    // Deleting the group asks first and detaches the key.
    await page.goto(`${t.gateway.adminUrl}/groups`);
    await page.getByRole("link", { name: /^Delete/ }).click();
    await page.getByRole("button", { name: "Detach 1 key and delete" }).click();
    await page.waitForURL(/\/groups$/);
    assert.ok(await page.getByText("No groups yet").isVisible());
    await page.goto(`${t.gateway.adminUrl}/keys/${team.id}`);
    assert.equal(await page.getByLabel("Group").count(), 0, "no group left to choose");
    await context.close();
  },
);
