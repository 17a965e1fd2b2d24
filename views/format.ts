/**
 * Formatting of numbers, sizes and times for the admin pages.
 * @module
 */

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat("en");

/** A count, compact above ten thousand (12.3K). */
export function formatCount(n: number): string {
  return n >= 10_000 ? compact.format(n) : whole.format(n);
}

/** A count with thousands separators (12,345). */
export function formatWhole(n: number): string {
  return whole.format(n);
}

/**
 * A count with its noun in the right number: "1 request", "2 requests", "1,000 tokens". The one
 * place the UI makes plurals; `plural` is for nouns that do not just add an s.
 */
export function countOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${whole.format(n)} ${n === 1 ? singular : plural}`;
}

/** A byte size in decimal units, as Ollama reports model sizes (4.7 GB). */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** A date-time in the gateway's time zone, e.g. "15 Jun 2026, 12:03". */
export function formatDateTime(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone,
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  }).format(new Date(iso));
}

/** A calendar date (yyyy-mm-dd) as "31 Dec 2026". */
export function formatDate(date: string): string {
  return Temporal.PlainDate.from(date).toLocaleString("en-GB", {
    day: "numeric",
    month: "short",
    year: "numeric",
  });
}

/** How long ago an instant was, in words ("just now", "5 min ago", "3 days ago"). */
export function formatAgo(iso: string, now: Temporal.Instant): string {
  const seconds = Math.floor((now.epochMilliseconds - Date.parse(iso)) / 1000);
  if (seconds < 60) return "just now";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return days === 1 ? "yesterday" : `${days} days ago`;
}
