/**
 * The request log's page cursor: the position of the last row shown, opaque in the URL.
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
