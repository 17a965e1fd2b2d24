/**
 * Streaming an export: a ReadableStream that pulls one page of the request log at a time
 * (keyset pages, newest first) and formats it, so memory stays flat however many rows there
 * are. Usage exports read time slices (a day of 15 minutes, a week of hours, a month of days)
 * one after another, for the same reason.
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
import { localPeriods, type TimeUnit, timeUnitOf } from "./periods.ts";

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

/** Periods a usage export reads at a time, per unit. */
export const SLICE_PERIODS: Readonly<Record<TimeUnit, number>> = {
  "15m": 96,
  hour: 168,
  day: 31,
  month: 1,
};

/**
 * The sub-ranges a usage export reads one after another: runs of SLICE_PERIODS whole periods,
 * so every row is the one the whole range would give. Only when time is the first dimension,
 * so the slices' rows follow the answer's order; else (no time, or time after model…) the
 * range is one read, its rows bounded by the store's row cap.
 */
export function usageSlices(q: UsageQuery): Array<{ fromMs: number; toMs: number }> {
  const unit = timeUnitOf(q.groupBy);
  if (unit === null || q.groupBy[0] !== unit) return [{ fromMs: q.fromMs, toMs: q.toMs }];
  const periods = localPeriods(q.fromMs, q.toMs, q.timeZone, unit);
  const out: Array<{ fromMs: number; toMs: number }> = [];
  for (let i = 0; i < periods.length; i += SLICE_PERIODS[unit]) {
    const last = periods[Math.min(periods.length, i + SLICE_PERIODS[unit]) - 1];
    out.push({ fromMs: periods[i].fromMs, toMs: last.toMs });
  }
  return out;
}

/** Usage rows of a query as a stream of export text, slice by slice (usageSlices). */
export function usageExportStream(
  query: UsageQuery,
  format: ExportFormat,
  read: (q: UsageQuery) => Promise<UsageRow[]>,
): ReadableStream<Uint8Array> {
  const slices = usageSlices(query);
  let next = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk = next === 0 ? exportHeader(format, USAGE_COLUMNS) : "";
      // An error (a slice over the row cap) errors the stream: a cut answer, never one that
      // looks complete.
      const rows = next < slices.length ? await read({ ...query, ...slices[next]! }) : [];
      next++;
      for (const [i, row] of rows.entries()) {
        chunk += formatRecord(format, USAGE_COLUMNS, usageRecord(row));
        if ((i + 1) % 1000 === 0) {
          controller.enqueue(encoder.encode(chunk));
          chunk = "";
        }
      }
      if (chunk) controller.enqueue(encoder.encode(chunk));
      if (next >= slices.length) controller.close();
    },
  }, { highWaterMark: 1 });
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

/**
 * The stream once its first chunk is read: an error there (a usage export's first slice over
 * the row cap) rejects here, before an answer starts, so it can be a 400 or an exit code
 * rather than a body cut off after its header.
 */
export async function primed(
  stream: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  const reader = stream.getReader();
  const first = await reader.read();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (first.done) controller.close();
      else controller.enqueue(first.value);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
