/**
 * The request log's page cursor: opaque base64url text naming the last row shown, the range the
 * first page resolved (fromMs/toMs), and a fingerprint of the other filters. Later pages read
 * the cursor's range, not one resolved again: "the last 24 hours" moves with the clock, and a
 * range resolved anew on every page would page a different list. A cursor used with other
 * filters, or one that is not ours, is refused rather than silently paging another list.
 * @module
 */
import { fromBase64url, toBase64url } from "../base64url.ts";
import { AnalyticsInputError, MAX_YEAR, MIN_YEAR } from "./range.ts";
import { BUCKET_MS } from "./rollup.ts";
import type { RequestQuery } from "./types.ts";

/** The filters a cursor belongs to (everything in a request query but the position and size). */
export type CursorFilters = Omit<RequestQuery, "before" | "limit">;

/** The filters a cursor's fingerprint covers: all but the range, which it carries itself. */
export type CursorFingerprinted = Omit<CursorFilters, "fromMs" | "toMs">;

/** Where a cursor's page starts: its range and the position within it. */
export interface CursorPage {
  fromMs: number;
  toMs: number;
  before: { startedAt: string; id: number };
}

const EARLIEST_MS = Date.UTC(MIN_YEAR - 1, 11, 31);
const LATEST_MS = Date.UTC(MAX_YEAR + 1, 0, 2);

/** A short, stable fingerprint of the filters (FNV-1a over their JSON). */
function fingerprint(f: CursorFingerprinted): string {
  const text = JSON.stringify([
    f.keyId ?? null,
    f.model ?? null,
    f.route ?? null,
    f.status ?? null,
  ]);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}

/** The cursor of the page after the row `last` of a query with these filters. */
export function encodeCursor(
  filters: CursorFilters,
  last: { started_at: string; id: number },
): string {
  const json = JSON.stringify({
    s: last.started_at,
    i: last.id,
    a: filters.fromMs,
    b: filters.toMs,
    f: fingerprint(filters),
  });
  return toBase64url(new TextEncoder().encode(json));
}

/** A range bound a parsed range could have had (15-minute aligned, within the allowed years). */
function isBound(ms: unknown): ms is number {
  return Number.isSafeInteger(ms) && (ms as number) % BUCKET_MS === 0 &&
    (ms as number) >= EARLIEST_MS && (ms as number) <= LATEST_MS;
}

/**
 * The range and position a cursor names; throws AnalyticsInputError("cursor") when it is not
 * one this API gave out, or was given out for other filters.
 */
export function decodeCursor(cursor: string, filters: CursorFingerprinted): CursorPage {
  const notOurs = () => new AnalyticsInputError("cursor", "not a cursor this API gave out");
  let parsed: { s?: unknown; i?: unknown; a?: unknown; b?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(fromBase64url(cursor)));
  } catch {
    throw notOurs();
  }
  if (
    typeof parsed !== "object" || parsed === null || typeof parsed.s !== "string" ||
    !/^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(parsed.s) || Number.isNaN(Date.parse(parsed.s)) ||
    !Number.isSafeInteger(parsed.i) || !isBound(parsed.a) || !isBound(parsed.b) ||
    parsed.b <= parsed.a
  ) {
    throw notOurs();
  }
  if (parsed.f !== fingerprint(filters)) {
    throw new AnalyticsInputError(
      "cursor",
      "belongs to other filters; start again without a cursor",
    );
  }
  return {
    fromMs: parsed.a,
    toMs: parsed.b,
    before: { startedAt: parsed.s, id: parsed.i as number },
  };
}
