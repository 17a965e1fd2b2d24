/**
 * The Ollama boxes page in Chromium, with htmx and without JavaScript: add a second box, see it
 * probed, edit it in place, disable it, delete it; no CSP violation or script error on the way.
 * @module
 */
import assert from "node:assert/strict";
import { startMockOllama } from "../support/mock_ollama.ts";
import { browserTest, htmxSettled, screenshot, signIn, watchProblems } from "./browser.ts";

browserTest("an admin adds a second Ollama box, edits, disables and deletes it", async (t, b) => {
  const second = await startMockOllama({ models: ["qwen3:8b"] });
  try {
    const context = await b.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on("dialog", (dialog) => dialog.accept());
    const problems = watchProblems(page);
    await signIn(page, t, "/upstreams");
    assert.ok(await page.getByText("Takes every request").isVisible());

    const add = page.locator("#add-box");
    await add.getByLabel("URL").fill(second.url);
    await add.getByLabel("Name").fill("gpu2");
    await add.getByLabel("Bearer token").fill("browser-token-1");
    await add.getByRole("button", { name: "Add box" }).click();
    await page.getByText("Ollama box “gpu2” added.").waitFor();
    await htmxSettled(page);
    const card = page.locator("article.box", { hasText: "gpu2" });
    assert.ok(await card.getByText("with a bearer token").isVisible());
    // Probed at once: its models show after a reload.
    for (let i = 0; i < 40; i++) {
      await page.reload();
      if (await card.getByText("qwen3:8b").count() > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(await card.getByText("qwen3:8b").isVisible());
    assert.ok(await card.getByText("Healthy").isVisible());
    await screenshot(page, "upstreams-01-two-boxes");

    await card.getByRole("link", { name: /^Edit/ }).click();
    await card.getByLabel("Requests at once").waitFor();
    await htmxSettled(page);
    await card.getByLabel("Requests at once").fill("2");
    await card.getByRole("button", { name: "Save changes" }).click();
    await card.getByText("0 (at most 2)").waitFor();
    await htmxSettled(page);

    await card.getByRole("button", { name: /^Disable/ }).click();
    await page.getByText("Ollama box “gpu2” disabled.").waitFor();
    await htmxSettled(page);
    assert.ok(
      await page.locator("article.box", { hasText: "gpu2" }).getByText("Disabled").isVisible(),
    );

    await page.locator("article.box", { hasText: "gpu2" }).getByRole("link", {
      name: /^Delete/,
    }).click();
    await page.getByText("Ollama box “gpu2” deleted.").waitFor();
    await htmxSettled(page);
    assert.equal(await page.locator("article.box").count(), 1);
    assert.equal((await page.content()).includes("browser-token-1"), false);
    assert.deepEqual(problems, []);
  } finally {
    await second.close();
  }
});

browserTest("without JavaScript the box forms post, redirect and confirm", async (t, b) => {
  const context = await b.newContext({
    javaScriptEnabled: false,
    viewport: { width: 390, height: 800 },
  });
  const page = await context.newPage();
  await signIn(page, t, "/upstreams");
  const add = page.locator("#add-box");
  await add.getByLabel("URL").fill("http://127.0.0.1:9");
  await add.getByLabel("Name").fill("spare");
  await add.getByRole("button", { name: "Add box" }).click();
  await page.waitForURL(/\/upstreams$/);
  const card = page.locator("article.box", { hasText: "spare" });
  await card.waitFor();
  await screenshot(page, "upstreams-02-phone-no-js");
  await card.getByRole("link", { name: /^Delete/ }).click();
  await page.waitForURL(/\/upstreams\/\d+\/delete$/);
  await page.getByRole("button", { name: "Delete box" }).click();
  await page.waitForURL(/\/upstreams$/);
  assert.equal(await page.locator("article.box").count(), 1);
});
