/**
 * Guessing the admin password: every credential check of the admin listener (the API's bearer,
 * /metrics' tokens, the UI login) shares one budget of wrong credentials; beyond it, attempts are
 * refused with 429 unchecked, the lock grows and ends by itself, and the guessing is logged.
 * The guard is per process and uses no database, so these run on SQLite only.
 * @module
 */
import assert from "node:assert/strict";
import { ADMIN_PASSWORD, startTestGateway, type TestGateway } from "../support/gateway.ts";

const METRICS_TOKEN = "scrape-token-0123456789";

async function withGateway(fn: (t: TestGateway) => Promise<void>): Promise<void> {
  // 600 connections at once: more than the admin listener's derived cap.
  const t = await startTestGateway("sqlite", {
    env: { METRICS_TOKEN, ADMIN_MAX_CONNECTIONS: "2000" },
  });
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

/** GET on the admin listener with a bearer; returns status, Retry-After and the parsed body. */
async function get(t: TestGateway, path: string, bearer: string) {
  const res = await fetch(t.gateway.adminUrl + path, {
    headers: { authorization: `Bearer ${bearer}` },
  });
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get("retry-after"), text };
}

/** Moves the gateway's clock forward. */
function advance(t: TestGateway, seconds: number): void {
  t.clock.set(t.clock.now().add({ milliseconds: seconds * 1000 }).toString());
}

const guessing = (t: TestGateway) => t.logs.filter((l) => l.includes("admin password guessing"));

Deno.test("600 wrong API passwords sent at once: 11 are checked, the rest get 429 unchecked", async () => {
  await withGateway(async (t) => {
    const answers = await Promise.all(
      Array.from({ length: 600 }, (_, i) => get(t, "/api/api-keys", `guess-${i}-0123456789abc`)),
    );
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 401).length, 11, "10 free, the 11th locks");
    assert.equal(statuses.filter((s) => s === 429).length, 589);
    const refused = answers.find((a) => a.status === 429)!;
    assert.equal(refused.retryAfter, "1");
    assert.deepEqual(JSON.parse(refused.text), {
      error: "Too many wrong admin credentials lately: none are checked for 1 s",
    });

    // While locked, the right password is not even looked at: a 429 would otherwise say "wrong"
    // and the guessing would go on at full speed.
    assert.equal((await get(t, "/api/api-keys", ADMIN_PASSWORD)).status, 429);
    advance(t, 1);
    assert.equal((await get(t, "/api/api-keys", ADMIN_PASSWORD)).status, 200, "lock over");
    // The next wrong one locks for twice as long.
    assert.equal((await get(t, "/api/api-keys", "wrong-0123456789abcdef")).status, 401);
    const again = await get(t, "/api/api-keys", ADMIN_PASSWORD);
    assert.equal(again.status, 429);
    assert.equal(again.retryAfter, "2");

    assert.equal(guessing(t).length, 1, "one warning, not 589");
    assert.match(guessing(t)[0], /WARN admin password guessing: credential checks are throttled/);
    assert.match(guessing(t)[0], /source="api".*wrong=11 refused=0 retry_after_s=1/);
    for (const line of t.logs) assert.doesNotMatch(line, /guess-\d+/, "no guess is ever logged");
  });
});

Deno.test("the API, /metrics and the login share one budget", async () => {
  await withGateway(async (t) => {
    for (let i = 0; i < 4; i++) {
      assert.equal((await get(t, "/api/api-keys", `api-guess-${i}-0123456789`)).status, 401);
      assert.equal((await get(t, "/metrics", `metrics-guess-${i}-0123456789`)).status, 401);
    }
    for (let i = 0; i < 3; i++) {
      const res = await fetch(t.gateway.adminUrl + "/login", {
        method: "POST",
        body: new URLSearchParams({ password: `login-guess-${i}-0123456789` }),
        redirect: "manual",
      });
      assert.equal(res.status, 401);
      await res.body?.cancel();
    }
    // 11 wrong in all: locked for every source, METRICS_TOKEN included.
    const metrics = await get(t, "/metrics", METRICS_TOKEN);
    assert.equal(metrics.status, 429);
    assert.equal(metrics.retryAfter, "1");
    assert.equal((await get(t, "/api/api-keys", ADMIN_PASSWORD)).status, 429);
    const login = await fetch(t.gateway.adminUrl + "/login", {
      method: "POST",
      body: new URLSearchParams({ password: ADMIN_PASSWORD }),
      redirect: "manual",
    });
    assert.equal(login.status, 429);
    assert.equal(login.headers.get("retry-after"), "1");
    await login.body?.cancel();
  });
});

Deno.test("requests without a credential are no guesses: they get 401 and leave the budget alone", async () => {
  await withGateway(async (t) => {
    for (let i = 0; i < 50; i++) {
      const res = await fetch(t.gateway.adminUrl + "/api/api-keys");
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="llm-quota admin"');
      await res.body?.cancel();
    }
    assert.equal((await get(t, "/api/api-keys", ADMIN_PASSWORD)).status, 200);
  });
});

Deno.test("a guesser who never stops gets about one check a minute, and a warning a minute", async () => {
  await withGateway(async (t) => {
    // An hour of the gateway's time: guess, and when refused, wait exactly as long as told.
    const end = t.clock.now().add({ hours: 1 });
    let checked = 0;
    let refused = 0;
    // Bounded, so a guard that never refuses fails the test instead of hanging it.
    for (let i = 0; i < 5000 && Temporal.Instant.compare(t.clock.now(), end) < 0; i++) {
      const a = await get(t, "/api/api-keys", `guess-${i}-0123456789abcdef`);
      if (a.status === 401) checked++;
      else {
        assert.equal(a.status, 429);
        refused++;
        advance(t, Number(a.retryAfter));
      }
    }
    // 10 free, 1 + 2 + 4 + … s locks up to a minute, then one a minute: 10 + 7 + ~59.
    assert.ok(checked >= 70 && checked <= 80, `${checked} guesses checked in an hour`);
    assert.ok(refused > 0);
    const warnings = guessing(t).length;
    assert.ok(warnings >= 55 && warnings <= 61, `${warnings} warnings in an hour`);
    // The real admin, once the guessing stops, waits at most a minute.
    const waiting = await get(t, "/api/api-keys", ADMIN_PASSWORD);
    assert.ok(waiting.status === 200 || Number(waiting.retryAfter) <= 60, waiting.retryAfter!);
    advance(t, 60);
    assert.equal((await get(t, "/api/api-keys", ADMIN_PASSWORD)).status, 200);
  });
});

Deno.test("the budget refills with time: wrong passwords a minute apart never lock", async () => {
  await withGateway(async (t) => {
    for (let i = 0; i < 40; i++) {
      assert.equal((await get(t, "/metrics", `guess-${i}-0123456789abcdef`)).status, 401, `${i}`);
      advance(t, 60);
    }
    assert.equal((await get(t, "/metrics", METRICS_TOKEN)).status, 200);
    assert.deepEqual(guessing(t), []);
  });
});
