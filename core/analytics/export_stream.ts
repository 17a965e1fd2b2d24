/**
 * Streaming an export: a ReadableStream that pulls one page of the request log at a time
 * (keyset pages, newest first) and formats it, so memory stays flat however many rows there
 * are. Usage exports are read whole: rollup rows are few.
 * @module
 */
import {
  type ExportFormat,
  exportHeader,
  formatRecord,
  REQUEST_COLUMNS,
  requestCsvLine,
  requestRecord,
  USAGE_COLUMNS,
  usageRecord,
} from "./export_format.ts";
import type { RequestQuery, RequestRow, UsageQuery, UsageRow } from "./types.ts";
import { LocalIso } from "./range.ts";

const encoder = new TextEncoder();

/**
 * Rows per page an export reads: bigger pages than the API's (MAX_PAGE) spend less per row on
 * statements and chunks, and memory stays one page.
 */
export const EXPORT_PAGE = 5000;

/**
 * The request log of a query as a stream of export text, EXPORT_PAGE rows at a time
 * (`query.limit` is not used).
 */
export function requestExportStream(
  query: RequestQuery,
  format: ExportFormat,
  timeZone: string,
  page: (q: RequestQuery) => Promise<RequestRow[]>,
): ReadableStream<Uint8Array> {
  let before = query.before;
  const local = new LocalIso(timeZone);
  let started = false;
  let done = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk = "";
      if (!started) {
        started = true;
        chunk += exportHeader(format, REQUEST_COLUMNS);
      }
      const rows = done ? [] : await page({ ...query, before, limit: EXPORT_PAGE });
      for (const row of rows) {
        chunk += format === "csv"
          ? requestCsvLine(row, local)
          : formatRecord(format, REQUEST_COLUMNS, requestRecord(row, local));
      }
      if (chunk) controller.enqueue(encoder.encode(chunk));
      if (rows.length < EXPORT_PAGE) {
        done = true;
        controller.close();
        return;
      }
      const last = rows[rows.length - 1];
      before = { startedAt: last.started_at, id: last.id };
    },
  }, { highWaterMark: 1 });
}

/** Usage rows of a query as a stream of export text. */
export function usageExportStream(
  query: UsageQuery,
  format: ExportFormat,
  read: (q: UsageQuery) => Promise<UsageRow[]>,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      const rows = await read(query);
      let chunk = exportHeader(format, USAGE_COLUMNS);
      for (const [i, row] of rows.entries()) {
        chunk += formatRecord(format, USAGE_COLUMNS, usageRecord(row));
        if ((i + 1) % 1000 === 0) {
          controller.enqueue(encoder.encode(chunk));
          chunk = "";
        }
      }
      if (chunk) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

/** The file name of an export (`requests-2026-03-01-2026-03-31.csv`). */
export function exportFileName(
  dataset: "requests" | "usage",
  format: ExportFormat,
  fromMs: number,
  toMs: number,
  timeZone: string,
): string {
  const day = (ms: number) =>
    Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(timeZone).toPlainDate()
      .toString();
  return `${dataset}-${day(fromMs)}-${day(toMs - 1)}.${format}`;
}
