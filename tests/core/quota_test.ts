import assert from "node:assert/strict";
import { type Ask, decideAdmission, type Limits } from "../../core/quota.ts";

const none: Limits = {
  daily_request_limit: null,
  monthly_request_limit: null,
  daily_token_limit: null,
  monthly_token_limit: null,
};
const zero = { requests: 0, tokens: 0, reserved: 0 };
const ask = (over: Partial<Ask> = {}): Ask => ({
  promptTokens: 10,
  generates: true,
  clientMaxTokens: null,
  maxReservedTokens: 4096,
  ...over,
});

Deno.test("a key without limits is admitted with no reservation and no cap", () => {
  const d = decideAdmission(none, { day: zero, month: zero }, ask());
  assert.deepEqual(d.ok && [d.reservation, d.generationCap], [0, null]);
});

Deno.test("the request that would exceed the daily request limit is refused", () => {
  const limits = { ...none, daily_request_limit: 3 };
  const used = { ...zero, requests: 2 };
  assert.equal(decideAdmission(limits, { day: used, month: used }, ask()).ok, true);
  const full = { ...zero, requests: 3 };
  const d = decideAdmission(limits, { day: full, month: full }, ask());
  assert.equal(!d.ok && d.limit, "daily_requests");
});

Deno.test("the monthly request limit counts the whole month", () => {
  const limits = { ...none, monthly_request_limit: 5 };
  const d = decideAdmission(limits, { day: zero, month: { ...zero, requests: 5 } }, ask());
  assert.equal(!d.ok && d.limit, "monthly_requests");
});

Deno.test("generation is capped to the tokens left after the prompt", () => {
  const limits = { ...none, daily_token_limit: 100 };
  const d = decideAdmission(limits, { day: { ...zero, tokens: 60 }, month: zero }, ask());
  assert.deepEqual(d.ok && [d.generationCap, d.reservation], [30, 40]);
});

Deno.test("reservations of requests in flight count as used", () => {
  const limits = { ...none, daily_token_limit: 100 };
  const day = { ...zero, tokens: 50, reserved: 45 };
  const d = decideAdmission(limits, { day, month: day }, ask({ promptTokens: 10 }));
  assert.equal(!d.ok && d.limit, "daily_tokens");
});

Deno.test("one reservation is bounded so a large budget serves many requests at once", () => {
  const limits = { ...none, monthly_token_limit: 1_000_000 };
  const d = decideAdmission(limits, { day: zero, month: zero }, ask({ maxReservedTokens: 500 }));
  assert.deepEqual(d.ok && [d.generationCap, d.reservation], [500, 510]);
  const own = decideAdmission(limits, { day: zero, month: zero }, ask({ clientMaxTokens: 20 }));
  assert.deepEqual(own.ok && [own.generationCap, own.reservation], [20, 30]);
});

Deno.test("the tighter of the daily and monthly token windows decides", () => {
  const limits = { ...none, daily_token_limit: 1000, monthly_token_limit: 100 };
  const d = decideAdmission(limits, { day: zero, month: { ...zero, tokens: 95 } }, ask());
  assert.equal(!d.ok && d.limit, "monthly_tokens");
});

Deno.test("an embedding request needs room for its input only", () => {
  const limits = { ...none, daily_token_limit: 10 };
  const d = decideAdmission(limits, { day: zero, month: zero }, ask({ generates: false }));
  assert.deepEqual(d.ok && [d.generationCap, d.reservation], [null, 10]);
});

Deno.test("quota state after admission reports the tightest remaining window", () => {
  const limits = { ...none, daily_request_limit: 10, monthly_request_limit: 4 };
  const d = decideAdmission(limits, { day: zero, month: { ...zero, requests: 1 } }, ask());
  assert.deepEqual(d.quota.requests, { limit: 4, remaining: 2, window: "month" });
});
