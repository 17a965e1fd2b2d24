/**
 * Export formats of the request log and of usage rows: CSV (safe to open in a spreadsheet) and
 * NDJSON, with every timestamp in UTC and in APP_TZ. Formatting only; the admin API and the CLI
 * stream the pages through it.
 * @module
 */
import { LocalIso } from "./range.ts";
import type { RequestRow, UsageRow } from "./types.ts";

/** An export format. */
export type ExportFormat = "csv" | "ndjson";

/**
 * One CSV cell. Text that a spreadsheet would run as a formula (starting with = + - @, tab or
 * CR) gets a leading apostrophe (OWASP's advice against CSV injection); cells with commas,
 * quotes or line breaks are quoted. Numbers are written as they are.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  let text = Array.isArray(value) ? value.join(";") : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV line (CRLF-terminated, RFC 4180). */
export function csvLine(values: readonly unknown[]): string {
  return values.map(csvCell).join(",") + "\r\n";
}

/** Columns of the request-log export. */
export const REQUEST_COLUMNS = [
  "id",
  "started_at_utc",
  "started_at_local",
  "key_id",
  "key_name",
  "member_id",
  "group_id",
  "route",
  "model",
  "upstream",
  "status",
  "http_status",
  "refused_by",
  "prompt_tokens",
  "completion_tokens",
  "estimated",
  "duration_ms",
  "ttfb_ms",
] as const;

/** A request row as an export record (UTC and local timestamps). */
export function requestRecord(row: RequestRow, local: LocalIso): Record<string, unknown> {
  const { started_at, ...rest } = row;
  return {
    ...rest,
    id: row.id,
    started_at_utc: started_at,
    started_at_local: local.format(Date.parse(started_at)),
  };
}

/**
 * One request row as a CSV line in REQUEST_COLUMNS order, written straight from the row (the
 * same cells as formatRecord of requestRecord, without a record object per row: exports are
 * millions of rows).
 */
export function requestCsvLine(row: RequestRow, local: LocalIso): string {
  return csvCell(row.id) + "," + csvCell(row.started_at) + "," +
    csvCell(local.format(Date.parse(row.started_at))) + "," + csvCell(row.key_id) + "," +
    csvCell(row.key_name) + "," + csvCell(row.member_id) + "," + csvCell(row.group_id) + "," +
    csvCell(row.route) + "," + csvCell(row.model) + "," + csvCell(row.upstream) + "," +
    csvCell(row.status) + "," + csvCell(row.http_status) + "," + csvCell(row.refused_by) + "," +
    csvCell(row.prompt_tokens) + "," + csvCell(row.completion_tokens) + "," +
    csvCell(row.estimated) + "," + csvCell(row.duration_ms) + "," + csvCell(row.ttfb_ms) + "\r\n";
}

/** Columns of the usage export (histograms as `;`-separated counts in CSV). */
export const USAGE_COLUMNS = [
  "period_local",
  "period_utc",
  "key_id",
  "model",
  "route",
  "requests",
  "ok",
  "refused",
  "refused_requests",
  "refused_tokens",
  "refused_concurrent",
  "refused_other",
  "client_errors",
  "upstream_errors",
  "disconnected",
  "abandoned",
  "errors",
  "charged",
  "prompt_tokens",
  "completion_tokens",
  "estimated",
  "duration_ms",
  "duration_count",
  "ttfb_ms",
  "ttfb_count",
  "load_ms",
  "prompt_eval_ms",
  "eval_ms",
  "timing_count",
  "cold_loads",
  "duration_hist",
  "ttfb_hist",
] as const;

/** A usage row as an export record (the period in local time and in UTC). */
export function usageRecord(row: UsageRow): Record<string, unknown> {
  const { period, ...rest } = row;
  return {
    period_local: period ?? null,
    period_utc: period ? new Date(Date.parse(period)).toISOString() : null,
    ...rest,
  };
}

/** One exported record in a format, with the columns of its dataset. */
export function formatRecord(
  format: ExportFormat,
  columns: readonly string[],
  record: Record<string, unknown>,
): string {
  if (format === "ndjson") {
    return JSON.stringify(Object.fromEntries(columns.map((c) => [c, record[c] ?? null]))) + "\n";
  }
  return csvLine(columns.map((c) => record[c]));
}

/** The first line of an export (CSV's header; none for NDJSON). */
export function exportHeader(format: ExportFormat, columns: readonly string[]): string {
  return format === "csv" ? csvLine(columns) : "";
}
