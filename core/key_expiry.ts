/**
 * A key's expiry as the UI shows it: the last day (in APP_TZ) on which the key still works.
 * @module
 */
import { parseExpiry } from "./api_keys.ts";

/** The last day a key works, as yyyy-mm-dd in `timeZone`; "" when it never expires. */
export function lastValidDay(expiresAt: string | null, timeZone: string): string {
  if (!expiresAt) return "";
  // A key expiring at midnight stopped working the day before.
  return Temporal.Instant.from(expiresAt).subtract({ milliseconds: 1 })
    .toZonedDateTimeISO(timeZone).toPlainDate().toString();
}

/**
 * The stored expiry for a date from the form: null for "", the current value when the date is
 * unchanged (so an expiry set to a time of day through the API survives an edit of the limits),
 * otherwise the end of that day.
 */
export function expiryFromDate(date: string, current: string | null, timeZone: string) {
  if (date === "") return null;
  if (date === lastValidDay(current, timeZone)) return current;
  return parseExpiry(date, timeZone);
}
