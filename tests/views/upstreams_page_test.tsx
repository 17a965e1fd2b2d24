/**
 * How the Ollama boxes page words each state of a box: ejected until a time, saturated to what
 * it takes now, failing before it is ejected, disabled, a lone box, not read yet.
 * @module
 */
import assert from "node:assert/strict";
import type { UpstreamStatusView } from "../../core/upstreams/status_view.ts";
import { BoxCard } from "../../views/upstreams_page.tsx";

const ctx = {
  csrf: "t",
  timeZone: "UTC",
  now: Temporal.Instant.from("2026-06-15T10:00:00Z"),
};

const base: UpstreamStatusView = {
  id: 3,
  name: "gpu3",
  url: "http://***@gpu3:11434",
  has_token: false,
  token_unreadable: false,
  enabled: true,
  max_in_flight: 2,
  created_at: "2026-06-15T09:00:00.000Z",
  updated_at: "2026-06-15T09:00:00.000Z",
  state: "healthy",
  routed: true,
  ejected_until: null,
  saturated_to: null,
  in_flight: 1,
  failures: 0,
  ejections: 0,
  version: "0.12.3",
  models: ["llama3:latest"],
  loaded: [{ name: "llama3:latest", context_length: 8192 }],
  error: null,
};

async function card(over: Partial<UpstreamStatusView>): Promise<string> {
  return String(await (<BoxCard ctx={ctx} box={{ ...base, ...over }} />).toString());
}

Deno.test("each state of a box is said in words, with its badge", async () => {
  const healthy = await card({});
  assert.match(healthy, /class="badge active">Healthy</);
  assert.match(healthy, /1 \(at most 2\)/);
  assert.match(healthy, /<code>llama3:latest<\/code><span class="muted">context 8192</);
  assert.match(healthy, /<code>http:\/\/\*\*\*@gpu3:11434<\/code>/);
  assert.match(
    await card({ state: "ejected", ejected_until: "2026-06-15T10:00:40.000Z", ejections: 2 }),
    /class="badge expired">Ejected until 10:00:40 \(40 s\)</,
  );
  assert.match(
    await card({ state: "saturated", saturated_to: 1 }),
    /class="badge idle">Saturated \(takes 1 now\)</,
  );
  assert.match(
    await card({ failures: 2, error: "version: answered 500" }),
    /class="badge idle">Failing \(2 failures in a row\)<[\s\S]*Last error[\s\S]*version: answered 500/,
  );
  assert.match(await card({ state: "trial" }), /class="badge info">On trial</);
  assert.match(await card({ state: "disabled", enabled: false }), /badge deactivated">Disabled</);
  assert.match(
    await card({ state: "unprobed", version: null }),
    /Not checked yet[\s\S]*version not read yet/,
  );
  const lone = await card({ routed: false, max_in_flight: null });
  assert.match(lone, />Takes every request</);
  assert.match(lone, /1 \(no limit\)/);
  assert.doesNotMatch(lone, /<dt>Models/, "a lone box is not probed: nothing to show");
  assert.match(
    await card({ has_token: true, token_unreadable: true }),
    /token unreadable: enter it again/,
  );
});
