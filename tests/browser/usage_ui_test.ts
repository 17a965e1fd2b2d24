import assert from "node:assert/strict";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";
import {
  browserTestsRun,
  htmxSettled,
  launchChromium,
  screenshot,
  screenshotOf,
  SCREENSHOTS,
  signIn,
  watchProblems,
} from "./browser.ts";

const MODELS = ["llama3:latest", "qwen3:latest", "mistral:latest", "gemma3:latest"];

/** A week of traffic: office hours busier than nights, several keys and models, some refusals. */
async function week(t: TestGateway): Promise<void> {
  t.mock.update({ models: MODELS });
  const keys = [
    await t.createKey({ name: "Open WebUI" }),
    await t.createKey({ name: "CI pipeline", daily_request_limit: 6 }),
    await t.createKey({
      name: "Alice's laptop",
      daily_request_limit: 50,
      monthly_token_limit: 2000,
    }),
    await t.createKey({ name: "Batch job" }),
  ];
  let seed = 11;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const start = Date.parse("2026-06-08T12:00:00Z");
  for (let hour = 0; hour < 7 * 24; hour += 3) {
    const at = start + hour * 3_600_000;
    const local = new Date(at + 2 * 3_600_000).getUTCHours();
    const n = local >= 8 && local <= 18 ? 4 : 1;
    for (let i = 0; i < n; i++) {
      t.clock.set(new Date(at + i * 60_000).toISOString());
      // Not the CI pipeline: its refusals today are counted below.
      const key = [keys[0], keys[2], keys[3]][Math.floor(rnd() ** 1.5 * 3)];
      const model = MODELS[Math.floor(rnd() ** 2 * MODELS.length)];
      // Answers of different lengths and speeds, some streamed: the percentiles have a spread.
      t.mock.update({
        chunks: 2 + Math.floor(rnd() * 12),
        chunkDelayMs: Math.floor(rnd() * 5),
        firstByteDelayMs: Math.floor(rnd() ** 3 * 60),
      });
      const res = await t.post("/api/chat", key.key, {
        model,
        stream: rnd() < 0.5,
        messages: [{ role: "user", content: "Hello ".repeat(1 + Math.floor(rnd() * 40)) }],
      });
      await res.text();
    }
  }
  // Today: the CI pipeline runs into its daily limit.
  t.clock.set("2026-06-15T11:30:00Z");
  for (let i = 0; i < 9; i++) {
    await (await t.post("/api/chat", keys[1].key, {
      model: "llama3",
      stream: false,
      messages: [{ role: "user", content: "Build" }],
    })).body?.cancel();
  }
  t.clock.set("2026-06-15T12:05:00Z");
}

Deno.test({
  name: "an admin reads a week of usage and pages through the request log, on a desk and a phone",
  ignore: !browserTestsRun(),
  // Chromium and the gateway keep timers and sockets that end with them, in the finally below.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t = await startTestGateway("sqlite", { env: { APP_TZ: "Europe/Berlin" } });
    const browser = await launchChromium();
    try {
      await week(t);
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const problems = watchProblems(page);
      await signIn(page, t, "/usage");

      // The week, stacked by model: a bar chart's worth of hours, drawn as areas.
      assert.equal(
        await page.locator('.range-presets a[aria-current="true"]').innerText(),
        "7 days",
      );
      const requests = page.locator("figure.chart").first();
      await requests.locator("svg.plot").waitFor();
      assert.match(
        (await requests.locator("desc").textContent())!,
        /^Requests, per hour, from Tue, 9 Jun 2026, 00:00–01:00 to Mon, 15 Jun 2026, 14:00–14:15, stacked by model\. Total \d+ requests\./,
      );
      assert.ok(await requests.locator("path").count() >= 3, "a layer per model");
      assert.equal(
        await page.locator("section", { hasText: "Limits hit today" }).locator("tbody tr").count(),
        1,
      );
      await screenshot(page, "40-usage-week");
      await screenshotOf(page.locator("section", { hasText: "Top keys" }), "40-usage-top-keys");

      // Today, by key: the quarter hours as bars, the table of numbers opened.
      await page.locator(".range-presets").getByRole("link", { name: "Today" }).click();
      await htmxSettled(page);
      await page.waitForURL(/range=today/);
      await page.getByRole("link", { name: "By key" }).click();
      await htmxSettled(page);
      await page.waitForURL(/by=key/);
      assert.ok(await requests.locator("rect").count() > 0, "bars for 15-minute periods");
      assert.ok(await requests.locator(".legend-name", { hasText: "CI pipeline" }).count() === 1);
      await requests.locator("summary").click();
      assert.ok(await requests.locator("table tbody tr").count() >= 1);
      await screenshotOf(page.locator("#usage-body"), "41-usage-today-by-key");

      // A wrong date is pointed out in the form, the page stays.
      await page.getByLabel("From", { exact: true }).fill("2026-06-20");
      await page.getByRole("button", { name: "Apply" }).click();
      await htmxSettled(page);
      await page.locator(".field-error", { hasText: "future" }).waitFor();

      // The request log: newest first, three pages of 50 and the rest, no page numbers.
      await page.goto(t.gateway.adminUrl + "/requests");
      const ids: number[] = [];
      for (let n = 0;; n++) {
        await page.locator("table.requests tbody tr").first().waitFor();
        for (const row of await page.locator("table.requests tbody tr").all()) {
          ids.push(Number(await row.getAttribute("data-id")));
        }
        if (n === 0) await screenshot(page, "42-requests");
        const older = page.getByRole("link", { name: "Older" });
        if (await older.count() === 0) break;
        await older.click();
        await htmxSettled(page);
        await page.waitForURL(/cursor=/);
      }
      assert.equal(new Set(ids).size, ids.length, "every request once");
      assert.deepEqual(ids, [...ids].sort((a, b) => b - a), "newest first");
      assert.ok(ids.length > 100);

      // Only the refusals; the export link carries the same filter.
      await page.getByLabel("Status", { exact: true }).selectOption("refused");
      await page.getByRole("button", { name: "Apply" }).click();
      await htmxSettled(page);
      await page.waitForURL(/status=refused/);
      assert.equal(await page.locator("table.requests tbody tr").count(), 3);
      assert.match(
        (await page.getByRole("link", { name: /Export what is shown/ }).getAttribute("href"))!,
        /^\/requests\/export\?range=7d&status=refused$/,
      );
      assert.deepEqual(problems, []);
      await context.close();

      // A phone: the same pages, readable.
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
      const small = await phone.newPage();
      const phoneProblems = watchProblems(small);
      await signIn(small, t, "/usage");
      await screenshot(small, "43-usage-phone");
      // What a phone shows first, and the charts as they sit on it.
      await small.screenshot({ path: new URL("43-usage-phone-top.png", SCREENSHOTS).pathname });
      await screenshotOf(
        small.locator("section", { hasText: "Over time" }),
        "43-usage-phone-charts",
      );
      await small.goto(t.gateway.adminUrl + "/requests");
      await screenshot(small, "44-requests-phone");
      await small.locator("table.requests").scrollIntoViewIfNeeded();
      await small.screenshot({ path: new URL("44-requests-phone-rows.png", SCREENSHOTS).pathname });
      const overflow = await small.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth",
      );
      assert.equal(overflow, 0, "nothing wider than the phone");
      assert.deepEqual(phoneProblems, []);
      await phone.close();

      // Without JavaScript: the presets are links, the filters a plain GET form, Older a link.
      const plain = await browser.newContext({ javaScriptEnabled: false });
      const bare = await plain.newPage();
      await signIn(bare, t, "/usage");
      await bare.locator(".range-presets").getByRole("link", { name: "30 days" }).click();
      await bare.waitForURL(/\/usage\?range=30d$/);
      await bare.getByLabel("Key", { exact: true }).selectOption({ label: "CI pipeline" });
      await bare.getByRole("button", { name: "Apply" }).click();
      await bare.waitForURL(/\/usage\?range=30d&.*key_id=\d+/);
      assert.deepEqual(
        await bare.locator("figure.chart").first().locator(".legend-name").allInnerTexts(),
        // Recorded canonically: the requests sent as `llama3` are the `llama3:latest` series.
        ["llama3:latest"],
      );
      await bare.goto(t.gateway.adminUrl + "/requests");
      await bare.getByRole("link", { name: "Older" }).click();
      await bare.waitForURL(/cursor=/);
      assert.equal(await bare.locator("h2#log-title").innerText(), "Older requests");
      await plain.close();
    } finally {
      await browser.close();
      await t.close();
    }
  },
});
