/**
 * The request log's page cursor: opaque base64url text naming the last row shown and the
 * filters it was shown under, so a cursor used with other filters is refused rather than
 * silently paging another list.
 * @module
 */
import { fromBase64url, toBase64url } from "../base64url.ts";
import { AnalyticsInputError } from "./range.ts";
import type { RequestQuery } from "./types.ts";

/** The filters a cursor belongs to (everything in a request query but the position and size). */
export type CursorFilters = Omit<RequestQuery, "before" | "limit">;

/** A short, stable fingerprint of the filters (FNV-1a over their JSON). */
function fingerprint(f: CursorFilters): string {
  const text = JSON.stringify([
    f.fromMs,
    f.toMs,
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

/** The cursor of the page after the row `last`. */
export function encodeCursor(
  filters: CursorFilters,
  last: { started_at: string; id: number },
): string {
  const json = JSON.stringify({ s: last.started_at, i: last.id, f: fingerprint(filters) });
  return toBase64url(new TextEncoder().encode(json));
}

/** The position a cursor names; throws AnalyticsInputError("cursor") when it is not one of these filters'. */
export function decodeCursor(
  cursor: string,
  filters: CursorFilters,
): { startedAt: string; id: number } {
  let parsed: { s?: unknown; i?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(fromBase64url(cursor)));
  } catch {
    throw new AnalyticsInputError("cursor", "not a cursor this API gave out");
  }
  if (
    typeof parsed?.s !== "string" || !Number.isSafeInteger(parsed.i) ||
    Number.isNaN(Date.parse(parsed.s))
  ) {
    throw new AnalyticsInputError("cursor", "not a cursor this API gave out");
  }
  if (parsed.f !== fingerprint(filters)) {
    throw new AnalyticsInputError(
      "cursor",
      "belongs to other filters; start again without a cursor",
    );
  }
  return { startedAt: parsed.s, id: parsed.i as number };
}
