import assert from "node:assert/strict";
import { requestWindows, secondsUntil, windowsAt } from "../../core/windows.ts";

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

Deno.test("every request of a minute gets that minute's windows, the next minute its own", () => {
  const a = requestWindows(at("2026-06-15T10:15:00Z"), "Europe/Berlin");
  const b = requestWindows(at("2026-06-15T10:15:59.999Z"), "Europe/Berlin");
  const c = requestWindows(at("2026-06-15T10:16:00Z"), "Europe/Berlin");
  assert.equal(a.minute, "2026-06-15T10:15");
  assert.deepEqual(b, a);
  assert.equal(c.minute, "2026-06-15T10:16");
  assert.equal(c.minuteResetAt.toString(), "2026-06-15T10:17:00Z");
  // Back in time (a clock set back, a test's clock): the earlier minute, not the last answer.
  const back = requestWindows(at("2026-06-14T23:00:00Z"), "Europe/Berlin");
  assert.equal(back.minute, "2026-06-14T23:00");
  assert.equal(back.day, "2026-06-15");
  assert.equal(requestWindows(at("2026-06-14T21:59:00Z"), "Europe/Berlin").day, "2026-06-14");
});

Deno.test("a local midnight inside a UTC minute splits its windows (Monrovia, UTC-0:44:30)", () => {
  const tz = "Africa/Monrovia";
  // Liberia kept a seconds offset until 1972: its midnight fell at 00:44:30 UTC.
  assert.equal(at("1970-06-01T00:00:00Z").toZonedDateTimeISO(tz).offset, "-00:44:30");
  const before = requestWindows(at("1970-06-01T00:44:29Z"), tz);
  const after = requestWindows(at("1970-06-01T00:44:31Z"), tz);
  assert.equal(before.minute, after.minute);
  assert.equal(before.day, "1970-05-31");
  assert.equal(after.day, "1970-06-01");
  assert.equal(requestWindows(at("1970-06-01T00:44:29.5Z"), tz).day, "1970-05-31");
});
