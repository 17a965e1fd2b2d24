/**
 * Export formats of the request log and of usage rows: CSV (safe to open in a spreadsheet) and
 * NDJSON, with every timestamp in UTC and in APP_TZ. Formatting only; the admin API and the CLI
 * stream the pages through it.
 * @module
 */
import { LocalIso } from "./range.ts";
import { SCALAR_COLUMNS } from "./rollup.ts";
import type { RequestRow, UsageRow } from "./types.ts";

/** An export format. */
export type ExportFormat = "csv" | "ndjson";

/**
 * Characters a spreadsheet skips before the first significant one: whitespace (including NBSP)
 * and the zero-width ones (U+200B–U+200D, U+2060, U+FEFF). A formula hidden behind them still
 * runs in some spreadsheets, so the check looks past them.
 */
const INVISIBLE_PREFIX = "[\\s\\u00a0\\u200b-\\u200d\\u2060\\ufeff]*";

/** A formula trigger (= + - @, tab, CR, or a full-width = + - @) after any invisible prefix. */
const FORMULA_RISK = new RegExp(
  `^(?:[\\t\\r]|${INVISIBLE_PREFIX}[=+\\-@\\uff1d\\uff0b\\uff0d\\uff20])`,
);

/**
 * One CSV cell. Text that a spreadsheet would run as a formula (= + - @, tab or CR first, or
 * after leading whitespace / zero-width characters, or a full-width = + - @) gets a leading
 * apostrophe (OWASP's advice against CSV injection) and is always quoted, so no importer can
 * strip the apostrophe as insignificant; other cells are quoted only for commas, quotes or line
 * breaks. Numbers are written as they are.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const text = Array.isArray(value) ? value.join(";") : String(value);
  if (FORMULA_RISK.test(text)) return `"'${text.replaceAll('"', '""')}"`;
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

const num = (n: number | null) => n === null ? "" : String(n);

/**
 * One request row as a CSV line in REQUEST_COLUMNS order, written straight from the row (the
 * same cells as formatRecord of requestRecord, without a record object per row: exports are
 * millions of rows). Numbers, the status and the timestamps cannot need escaping; the text
 * that a client or an admin chose goes through csvCell.
 */
export function requestCsvLine(row: RequestRow, local: LocalIso): string {
  return row.id + "," + row.started_at + "," + local.format(Date.parse(row.started_at)) + "," +
    row.key_id + "," + csvCell(row.key_name) + "," + num(row.member_id) + "," +
    num(row.group_id) + "," + csvCell(row.route) + "," + csvCell(row.model) + "," +
    csvCell(row.upstream) + "," + row.status + "," + num(row.http_status) + "," +
    csvCell(row.refused_by) + "," + row.prompt_tokens + "," + row.completion_tokens + "," +
    row.estimated + "," + num(row.duration_ms) + "," + num(row.ttfb_ms) + "\r\n";
}

/**
 * Columns of the usage export (histograms as `;`-separated counts in CSV). The counters come
 * from SCALAR_COLUMNS, the one list of rollup scalars, so a new counter is exported without a
 * second list to keep in step.
 */
export const USAGE_COLUMNS: readonly string[] = [
  "period_local",
  "period_utc",
  "key_id",
  "model",
  "route",
  ...SCALAR_COLUMNS,
  "errors",
  "duration_hist",
  "ttfb_hist",
];

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
