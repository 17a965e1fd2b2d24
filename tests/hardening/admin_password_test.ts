/**
 * A guessable ADMIN_PASSWORD is refused at start: the value in .env.example (or an earlier
 * README), or one shorter than 16 characters, unless ALLOW_WEAK_ADMIN_PASSWORD=true on loopback.
 * @module
 */
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../core/config.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function refusal(env: Record<string, string>): string {
  try {
    parseConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  throw new Error(`accepted: ${JSON.stringify(env)}`);
}

Deno.test(".env.example's ADMIN_PASSWORD is refused at start, in one line that says what to do", async () => {
  const example = /^ADMIN_PASSWORD=(.*)$/m.exec(await Deno.readTextFile(`${ROOT}.env.example`));
  assert.ok(example, ".env.example sets ADMIN_PASSWORD");
  for (const password of [example[1], "choose-a-long-secret"]) {
    const message = refusal({ ADMIN_PASSWORD: password });
    assert.match(message, /^Cannot start: ADMIN_PASSWORD is an example value/);
    assert.match(message, /ALLOW_WEAK_ADMIN_PASSWORD=true/);
    assert.ok(!message.includes("\n") && !message.includes(password), message);
  }
});

Deno.test("an ADMIN_PASSWORD shorter than 16 characters is refused; 16 are enough", () => {
  assert.equal(
    refusal({ ADMIN_PASSWORD: "fifteen-chars!!" }),
    'Cannot start: ADMIN_PASSWORD has 15 characters, fewer than 16: choose your own of 16 or more (e.g. deno eval "console.log(crypto.randomUUID())"), or set ALLOW_WEAK_ADMIN_PASSWORD=true for a throwaway instance on loopback',
  );
  assert.equal(parseConfig({ ADMIN_PASSWORD: "sixteen-chars!!!" }).adminPassword.length, 16);
  // Characters, not UTF-16 units: 8 emoji are 8 characters.
  assert.match(refusal({ ADMIN_PASSWORD: "🔑".repeat(8) }), /has 8 characters/);
  // The generator the README suggests makes an acceptable password.
  assert.ok(parseConfig({ ADMIN_PASSWORD: crypto.randomUUID() }));
});

Deno.test("ALLOW_WEAK_ADMIN_PASSWORD=true lets a weak password start on loopback", () => {
  for (const password of ["pw", "change-me-to-a-long-secret"]) {
    const config = parseConfig({ ADMIN_PASSWORD: password, ALLOW_WEAK_ADMIN_PASSWORD: "true" });
    assert.equal(config.adminPassword, password);
  }
  assert.match(
    refusal({ ADMIN_PASSWORD: "pw", ALLOW_WEAK_ADMIN_PASSWORD: "maybe" }),
    /ALLOW_WEAK_ADMIN_PASSWORD/,
  );
});

Deno.test("tools that never serve the admin (the key CLI) need no admin password", () => {
  assert.equal(parseConfig({}, { requireAdminPassword: false }).adminPassword, "");
});
