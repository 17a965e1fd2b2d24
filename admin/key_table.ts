/**
 * `deno task key list` output: an aligned table for people, or JSON for scripts. Expiry is the
 * last day a key works in APP_TZ, as the admin UI shows it.
 * @module
 */
import type { KeyView } from "../core/api_keys.ts";
import { lastValidDay } from "../core/key_expiry.ts";
import { printableName } from "../core/key_name.ts";

/** Names longer than this are cut in the table (`--json` has them whole). */
const NAME_COLUMN = 40;

const used = (n: number, limit: number | null) => `${n}/${limit === null ? "unlimited" : limit}`;

/** Wide characters (CJK, Hangul, full-width forms, emoji) take two terminal cells. */
const WIDE =
  /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u;
/** Combining marks, variation selectors and joiners take none. */
const ZERO_WIDTH = /[\p{M}\u200b-\u200d\ufe00-\ufe0f]/u;

/** How many terminal cells a text takes (close enough for names; no terminal is exact). */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += ZERO_WIDTH.test(ch) ? 0 : WIDE.test(ch) ? 2 : 1;
  return width;
}

function cut(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  let out = "";
  for (const ch of text) {
    if (displayWidth(out + ch) > width - 1) break;
    out += ch;
  }
  return out + "…";
}

/** The keys as an aligned table with a header; names are made printable and cut. */
export function keyTable(keys: KeyView[], timeZone: string): string {
  const rows = [
    [
      "ID",
      "NAME",
      "PREFIX",
      "STATUS",
      "REQUESTS TODAY",
      "TOKENS TODAY",
      "REQUESTS MONTH",
      "TOKENS MONTH",
      "VALID THROUGH",
    ],
    ...keys.map((k) => [
      String(k.id),
      cut(printableName(k.name), NAME_COLUMN),
      k.prefix,
      k.status,
      used(k.usage.today.requests, k.daily_request_limit),
      used(k.usage.today.tokens, k.daily_token_limit),
      used(k.usage.month.requests, k.monthly_request_limit),
      used(k.usage.month.tokens, k.monthly_token_limit),
      lastValidDay(k.expires_at, timeZone) || "no expiry",
    ]),
  ];
  const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => displayWidth(r[col]))));
  const lines = rows.map((r) =>
    r.map((cell, col) => cell + " ".repeat(widths[col] - displayWidth(cell))).join("  ")
      .trimEnd()
  );
  return [...lines, "", `Days, months and expiry dates are in APP_TZ ${timeZone}.`].join("\n");
}

/** The keys as JSON, each with `valid_through`: its last working day in APP_TZ, or null. */
export function keyJson(keys: KeyView[], timeZone: string): string {
  return JSON.stringify(
    keys.map((k) => ({ ...k, valid_through: lastValidDay(k.expires_at, timeZone) || null })),
    null,
    2,
  );
}
