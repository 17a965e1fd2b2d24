import assert from "node:assert/strict";
import {
  admitted,
  type Ask,
  decide,
  emptySnapshot,
  type ScopeState,
  type Snapshot,
} from "../../core/admission.ts";
import { policyWith } from "../../core/api_keys.ts";
import { OPEN_POLICY } from "../../core/model.ts";

const ask = (over: Partial<Ask> = {}): Ask => ({
  promptTokens: 10,
  generates: true,
  clientMaxTokens: null,
  maxReservedTokens: 4096,
  ...over,
});

/** One key scope with flat admin fields and a snapshot changed by `use`. */
function key(fields: Record<string, unknown>, use: (s: Snapshot) => void = () => {}): ScopeState[] {
  const snapshot = emptySnapshot();
  use(snapshot);
  return [{ scope: "key", id: 1, name: "k", policy: policyWith(OPEN_POLICY, fields), snapshot }];
}

Deno.test("a key without limits is admitted with no reservation and no cap", () => {
  const d = decide(key({}), ask());
  assert.deepEqual(d.ok && [d.reservation, d.generationCap], [0, null]);
});

Deno.test("the request that would exceed the daily request limit is refused", () => {
  assert.equal(decide(key({ daily_request_limit: 3 }, (s) => s.day.requests = 2), ask()).ok, true);
  const d = decide(key({ daily_request_limit: 3 }, (s) => s.day.requests = 3), ask());
  assert.deepEqual(!d.ok && "limit" in d && [d.limit.window, d.reason, d.used], [
    "day",
    "used_up",
    3,
  ]);
});

Deno.test("the monthly request limit counts the whole month", () => {
  const d = decide(key({ monthly_request_limit: 5 }, (s) => s.month.requests = 5), ask());
  assert.equal(!d.ok && "limit" in d && d.limit.window, "month");
});

Deno.test("a per-minute request limit counts the minute only", () => {
  const d = decide(
    key({ requests_per_minute: 2, daily_request_limit: 100 }, (s) => {
      s.minute.requests = 2;
      s.day.requests = 2;
    }),
    ask(),
  );
  assert.equal(!d.ok && "limit" in d && d.limit.window, "minute");
});

Deno.test("max_concurrent counts requests in flight", () => {
  assert.equal(decide(key({ max_concurrent: 2 }, (s) => s.inFlight = 1), ask()).ok, true);
  const d = decide(key({ max_concurrent: 2 }, (s) => s.inFlight = 2), ask());
  assert.equal(!d.ok && "limit" in d && d.limit.metric, "concurrent");
});

Deno.test("generation is capped to the tokens left after the prompt", () => {
  const d = decide(key({ daily_token_limit: 100 }, (s) => s.day.tokens = 60), ask());
  assert.deepEqual(d.ok && [d.generationCap, d.reservation], [30, 40]);
});

Deno.test("a refusal says whether the limit is used up, reserved in flight or too small", () => {
  const used = decide(key({ daily_token_limit: 100 }, (s) => s.day.tokens = 100), ask());
  assert.equal(!used.ok && used.reason, "used_up");
  const reserved = decide(
    key({ daily_token_limit: 100 }, (s) => {
      s.day.tokens = 50;
      s.day.reserved = 45;
    }),
    ask(),
  );
  assert.deepEqual(!reserved.ok && "limit" in reserved && [reserved.reason, reserved.reserved], [
    "reserved",
    45,
  ]);
  const big = decide(key({ daily_token_limit: 100 }, (s) => s.day.tokens = 95), ask());
  assert.deepEqual(!big.ok && "limit" in big && [big.reason, big.needed], ["does_not_fit", 11]);
});

Deno.test("one reservation is bounded so a large budget serves many requests at once", () => {
  const limits = { monthly_token_limit: 1_000_000 };
  const d = decide(key(limits), ask({ maxReservedTokens: 500 }));
  assert.deepEqual(d.ok && [d.generationCap, d.reservation], [500, 510]);
  const own = decide(key(limits), ask({ clientMaxTokens: 20 }));
  assert.deepEqual(own.ok && [own.generationCap, own.reservation], [20, 30]);
});

Deno.test("max_output_tokens caps the generation with or without token limits", () => {
  const free = decide(key({ max_output_tokens: 64 }), ask({ clientMaxTokens: 1000 }));
  assert.deepEqual(free.ok && [free.generationCap, free.reservation], [64, 0]);
  const lower = decide(key({ max_output_tokens: 64 }), ask({ clientMaxTokens: 8 }));
  assert.equal(lower.ok && lower.generationCap, 8);
  const limited = decide(key({ max_output_tokens: 64, daily_token_limit: 1000 }), ask());
  assert.deepEqual(limited.ok && [limited.generationCap, limited.reservation], [64, 74]);
  const embed = decide(key({ max_output_tokens: 64 }), ask({ generates: false }));
  assert.equal(embed.ok && embed.generationCap, null);
});

Deno.test("the tighter of the daily, monthly and per-minute token windows decides", () => {
  const d = decide(
    key({ daily_token_limit: 1000, monthly_token_limit: 100 }, (s) => s.month.tokens = 95),
    ask(),
  );
  assert.equal(!d.ok && "limit" in d && d.limit.window, "month");
  const m = decide(key({ daily_token_limit: 1000, tokens_per_minute: 50 }), ask());
  assert.deepEqual(m.ok && [m.generationCap, m.quota.tokens?.window], [40, "minute"]);
});

Deno.test("an embedding request needs room for its input only", () => {
  const d = decide(key({ daily_token_limit: 10 }), ask({ generates: false }));
  assert.deepEqual(d.ok && [d.generationCap, d.reservation], [null, 10]);
});

Deno.test("quota state after admission reports the tightest remaining window", () => {
  const d = decide(
    key({ daily_request_limit: 10, monthly_request_limit: 4 }, (s) => s.month.requests = 1),
    ask(),
  );
  assert.deepEqual(d.quota.requests, { limit: 4, remaining: 2, window: "month", scope: "key" });
});

Deno.test("admitted() adds one request to every window, the reservation and one in flight", () => {
  const after = admitted(emptySnapshot(), 25);
  assert.deepEqual(after, {
    minute: { requests: 1, tokens: 0, reserved: 25 },
    day: { requests: 1, tokens: 0, reserved: 25 },
    month: { requests: 1, tokens: 0, reserved: 25 },
    inFlight: 1,
  });
});
