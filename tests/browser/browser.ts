/**
 * Debian's Chromium driven by playwright-core, headless, for the admin UI's browser tests.
 * @module
 */
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { ADMIN_PASSWORD, startTestGateway, type TestGateway } from "../support/gateway.ts";

/** Where Debian installs Chromium (`apt-get install chromium`; .ci/run does it). */
export const CHROMIUM = "/usr/bin/chromium";

/** Where screenshots go (gitignored). */
export const SCREENSHOTS = new URL("../../test-output/screenshots/", import.meta.url);

/**
 * Whether the browser tests run: when Chromium is installed, and always under CI=true, where a
 * missing browser must fail rather than silently skip.
 */
export function browserTestsRun(): boolean {
  try {
    Deno.statSync(CHROMIUM);
    return true;
  } catch {
    if (Deno.env.get("CI") === "true") return true;
    console.warn(`${CHROMIUM} not found: browser tests skipped (apt-get install -y chromium)`);
    return false;
  }
}

/** Starts headless Chromium with flags that keep it quiet and offline. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** Collects what a page complains about: script errors, CSP violations, console errors. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`${page.url()}: page error: ${err.message}`));
  page.on("console", (msg) => {
    // Chromium logs every 4xx fetch; a 422 is the answer by design to a form that needs fixing
    // or confirming (htmx swaps it in), not a problem of the page.
    if (/^Failed to load resource: .* status of 422\b/.test(msg.text())) return;
    if (msg.type() === "error" || /Content.Security.Policy/i.test(msg.text())) {
      problems.push(`${page.url()}: console ${msg.type()}: ${msg.text()}`);
    }
  });
  return problems;
}

/**
 * Waits until htmx has finished swapping: it wires up new content (its triggers) only in the settle
 * step after a swap, so a test acting faster than a person must wait for it.
 */
export async function htmxSettled(page: Page): Promise<void> {
  // A locator, not waitForFunction: the page's CSP forbids the eval that one would need.
  const busy = page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added");
  await busy.first().waitFor({ state: "detached" });
}

/** Saves a full-page screenshot as test-output/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS).pathname, fullPage: true });
}

/** Saves a screenshot of one element as test-output/screenshots/<name>.png (a tall page's part). */
export async function screenshotOf(locator: Locator, name: string): Promise<void> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  await locator.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS).pathname });
}

/** Runs a browser test against a fresh gateway (SQLite, mock Ollama) and a fresh Chromium. */
export function browserTest(
  name: string,
  fn: (t: TestGateway, browser: Browser) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !browserTestsRun(),
    // Chromium and the gateway keep timers and sockets that end with them, in close() below.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const t = await startTestGateway("sqlite");
      const browser = await launchChromium();
      try {
        await fn(t, browser);
      } finally {
        await browser.close();
        await t.close();
      }
    },
  });
}

/** Opens `path` of the admin, signs in on the login page it leads to, and waits for `path`. */
export async function signIn(page: Page, t: TestGateway, path = "/keys"): Promise<void> {
  await page.goto(t.gateway.adminUrl + path);
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel("Admin password").fill(ADMIN_PASSWORD);
  await page.getByLabel("Admin password").press("Enter");
  await page.waitForURL(new RegExp(path.replace(/[?.*+]/g, "\\$&") + "$"));
}
