import assert from "node:assert/strict";
import { startTestGateway } from "../support/gateway.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { browserTestsRun, launchChromium, screenshot, watchProblems } from "./browser.ts";

Deno.test({
  name:
    "on a phone, model cards put each label beside its value and snippets keep Copy beside the title",
  ignore: !browserTestsRun(),
  // Chromium and the gateway keep timers and sockets that end with them, in the finally below.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t = await startTestGateway("sqlite");
    const browser = await launchChromium();
    try {
      await t.createKey({ name: "Alice", models: ["llama3"] });
      const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(t.gateway.adminUrl + "/login");
      await page.getByLabel("Admin password").fill(ADMIN_PASSWORD);
      await page.getByLabel("Admin password").press("Enter");
      await page.waitForURL(/\/keys$/);

      await page.goto(t.gateway.adminUrl + "/models");
      const row = page.locator("table.models tbody tr").first();
      for (const cell of await row.locator("td[data-label]").all()) {
        // The label is drawn by ::before; the cell's one line holds label and value.
        const box = (await cell.boundingBox())!;
        assert.ok(box.height <= 36, `${await cell.getAttribute("data-label")}: ${box.height}px`);
      }
      const card = (await row.boundingBox())!;
      assert.ok(card.height <= 260, `a model's card is ${card.height}px high (was ~400)`);
      await screenshot(page, "21-models-phone-dense");

      await page.goto(t.gateway.adminUrl + "/proxy");
      for (const head of await page.locator(".snippet .card-head").all()) {
        const [title, copy] = await Promise.all([
          head.locator("h2").boundingBox(),
          head.getByRole("button").boundingBox(),
        ]);
        const name = await head.locator("h2").innerText();
        assert.equal(
          Math.round(copy!.y),
          Math.round(title!.y),
          `${name}: Copy on the title's line`,
        );
        assert.ok(copy!.x >= title!.x + title!.width, `${name}: Copy right of the title`);
      }
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      await browser.close();
      await t.close();
    }
  },
});
