import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../core/config.ts";

const PASSWORD = "a-long-enough-admin-password";

Deno.test("config defaults match the documented ones", () => {
  const c = parseConfig({ ADMIN_PASSWORD: PASSWORD });
  assert.equal(c.proxyHost, "0.0.0.0");
  assert.equal(c.proxyPort, 8000);
  assert.equal(c.adminHost, "127.0.0.1");
  assert.equal(c.adminPort, 8001);
  assert.equal(c.databaseUrl, "sqlite:///./data/llm-quota.db");
  assert.equal(c.ollamaUrl, "http://localhost:11434");
  assert.equal(c.defaultModel, "llama3");
  assert.equal(c.timeZone, "Europe/Berlin");
  assert.deepEqual(c.allowedOrigins, []);
});

Deno.test("a missing ADMIN_PASSWORD stops start-up with a message naming it", () => {
  assert.throws(
    () => parseConfig({}),
    (e) => e instanceof ConfigError && /ADMIN_PASSWORD/.test(e.message),
  );
});

Deno.test("a wrong value stops start-up with one line naming the variable", () => {
  for (
    const [name, value] of [["APP_TZ", "Mars/Olympus"], ["PROXY_PORT", "99999"], [
      "OLLAMA_URL",
      "ftp://x",
    ]]
  ) {
    assert.throws(
      () => parseConfig({ ADMIN_PASSWORD: PASSWORD, [name]: value }),
      (e) => e instanceof ConfigError && e.message.includes(name) && !e.message.includes("\n"),
    );
  }
});

Deno.test("ALLOWED_ORIGINS is a comma-separated list", () => {
  const c = parseConfig({
    ADMIN_PASSWORD: PASSWORD,
    ALLOWED_ORIGINS: "https://a.example, http://b:3000/",
  });
  assert.deepEqual(c.allowedOrigins, ["https://a.example", "http://b:3000"]);
});
