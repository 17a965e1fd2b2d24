import assert from "node:assert/strict";
import { secondsUntil, windowsAt } from "../../core/windows.ts";

const at = (iso: string) => Temporal.Instant.from(iso);

Deno.test("day window changes at Berlin midnight, not UTC midnight", () => {
  assert.equal(windowsAt(at("2026-06-15T21:59:59Z"), "Europe/Berlin").day, "2026-06-15");
  assert.equal(windowsAt(at("2026-06-15T22:00:00Z"), "Europe/Berlin").day, "2026-06-16");
});

Deno.test("the spring DST day in Berlin lasts 23 hours", () => {
  const w = windowsAt(at("2026-03-29T00:30:00+01:00"), "Europe/Berlin");
  assert.equal(w.day, "2026-03-29");
  assert.equal(w.dayResetAt.toString(), "2026-03-29T22:00:00Z");
  assert.equal(secondsUntil(at("2026-03-28T23:00:00Z"), w.dayResetAt), 23 * 3600);
});

Deno.test("the autumn DST day in Berlin lasts 25 hours", () => {
  const w = windowsAt(at("2026-10-25T00:30:00+02:00"), "Europe/Berlin");
  assert.equal(w.day, "2026-10-25");
  assert.equal(w.dayResetAt.toString(), "2026-10-25T23:00:00Z");
  assert.equal(secondsUntil(at("2026-10-24T22:00:00Z"), w.dayResetAt), 25 * 3600);
});

Deno.test("month window runs from the first local day to the next month's", () => {
  const w = windowsAt(at("2026-12-31T23:30:00Z"), "Europe/Berlin");
  assert.equal(w.day, "2027-01-01");
  assert.equal(w.monthStart, "2027-01-01");
  assert.equal(w.monthEnd, "2027-02-01");
  assert.equal(w.monthResetAt.toString(), "2027-01-31T23:00:00Z");
});

Deno.test("windows follow APP_TZ: the same instant is another day in Tokyo", () => {
  const instant = at("2026-06-15T16:00:00Z");
  assert.equal(windowsAt(instant, "Europe/Berlin").day, "2026-06-15");
  assert.equal(windowsAt(instant, "Asia/Tokyo").day, "2026-06-16");
});
