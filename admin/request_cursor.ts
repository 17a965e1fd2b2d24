/**
 * The Requests page's cursor: the position of the last row shown, opaque in the URL. Unlike the
 * JSON API's cursor (core/analytics/cursor.ts), which also binds the exact range it was given
 * for, this one names only the position: the page's preset ranges ("today", "7 days") end at
 * the current quarter hour, so they move while someone pages, and an "Older" link made a minute
 * ago must still work. The filters travel in the link beside it.
 * @module
 */
import { fromBase64url, toBase64url } from "../core/base64url.ts";

/** A position in the log, newest first: rows strictly older than it come next. */
export interface LogPosition {
  startedAt: string;
  id: number;
}

/** The cursor of a position. */
export function encodeCursor(p: LogPosition): string {
  return toBase64url(new TextEncoder().encode(`${p.startedAt}|${p.id}`));
}

/** The position of a cursor; null when it is not one of ours. */
export function decodeCursor(cursor: string): LogPosition | null {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(fromBase64url(cursor));
    const match = /^(\d{4}-\d{2}-\d{2}T[\d:.]+Z)\|(\d{1,15})$/.exec(text);
    if (!match || Number.isNaN(Date.parse(match[1]))) return null;
    return { startedAt: match[1], id: Number(match[2]) };
  } catch {
    return null;
  }
}
