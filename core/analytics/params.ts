/**
 * The filters of analytics questions as text parameters (query strings, CLI flags), parsed with
 * zod into store queries. Shared by the admin API, the Usage and Requests pages and the CLI, so
 * each says the same about bad input: which parameter, and what it expects.
 * @module
 */
import { z } from "zod";
import { hasAnyControlCharacters } from "../text.ts";
import { decodeCursor } from "./cursor.ts";
import type { ExportFormat } from "./export_format.ts";
import { AnalyticsInputError, parseRange } from "./range.ts";
import { localPeriods, timeUnitOf } from "./periods.ts";
import { MAX_RANGE_DAYS } from "./range_presets.ts";
import { recordedModel } from "./recorded_model.ts";
import type { RequestQuery, RequestStatus, UsageDimension, UsageQuery } from "./types.ts";

/** Raw parameters: name → text (absent or empty: not given). */
export type RawParams = Record<string, string | undefined>;

const DIMENSIONS: readonly UsageDimension[] = [
  "15m",
  "hour",
  "day",
  "month",
  "model",
  "key",
  "route",
];
const STATUSES: readonly RequestStatus[] = ["ok", "refused", "error", "disconnected", "pending"];

/** The longest range of a usage question per fine time unit, in days (else MAX_RANGE_DAYS). */
export const MAX_DAYS_BY_UNIT: Readonly<Record<"15m" | "hour", number>> = { "15m": 7, hour: 92 };

const DAY_MS = 24 * 60 * 60_000;

/** Whether a range is at most `days` long; a local day may be 25 hours (DST), so 1 h more. */
function atMostDays(q: { fromMs: number; toMs: number }, days: number): boolean {
  return q.toMs - q.fromMs <= days * DAY_MS + DAY_MS / 24;
}

/** Most rows of one request-log page. */
export const MAX_PAGE = 1000;
/** Rows of a request-log page when `limit` is not given. */
export const DEFAULT_PAGE = 100;

const text = z.string().trim().min(1, "must not be empty").max(
  200,
  "must be at most 200 characters",
).refine((v) => !hasAnyControlCharacters(v), "must not contain control characters");
const filterShape = {
  from: z.string().optional(),
  to: z.string().optional(),
  key_id: z.string().regex(/^[1-9]\d{0,15}$/, "must be a key id (a whole number ≥ 1)").optional(),
  model: text.optional(),
  route: text.optional(),
};
const usageSchema = z.strictObject({
  ...filterShape,
  group_by: z.string().optional(),
});
const requestSchema = z.strictObject({
  ...filterShape,
  status: z.enum(STATUSES as [RequestStatus, ...RequestStatus[]], {
    error: `must be one of ${STATUSES.join(", ")}`,
  }).optional(),
  cursor: z.string().optional(),
  limit: z.string().regex(/^\d{1,4}$/, `must be a whole number from 1 to ${MAX_PAGE}`).optional(),
});
const exportSchema = z.strictObject({
  ...filterShape,
  group_by: z.string().optional(),
  status: requestSchema.shape.status,
  dataset: z.enum(["requests", "usage"], { error: "must be requests or usage" }),
  format: z.enum(["csv", "ndjson"], { error: "must be csv or ndjson" }).default("csv"),
});

function parsed<T extends z.ZodType>(schema: T, raw: RawParams): z.infer<T> {
  const given = Object.fromEntries(
    Object.entries(raw).filter(([, v]) => v !== undefined && v !== ""),
  );
  const result = schema.safeParse(given);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue.code === "unrecognized_keys") {
    throw new AnalyticsInputError(issue.keys[0], "unknown parameter");
  }
  throw new AnalyticsInputError(String(issue.path[0] ?? "query"), issue.message);
}

function groupBy(text: string | undefined): UsageDimension[] {
  const dims = (text ?? "day").split(",").map((d) => d.trim()).filter(Boolean);
  for (const d of dims) {
    if (!DIMENSIONS.includes(d as UsageDimension)) {
      throw new AnalyticsInputError(
        "group_by",
        `${JSON.stringify(d)} is not one of ${DIMENSIONS.join(", ")}`,
      );
    }
  }
  if (new Set(dims).size !== dims.length) {
    throw new AnalyticsInputError("group_by", "names a dimension twice");
  }
  try {
    timeUnitOf(dims as UsageDimension[]);
  } catch (err) {
    throw new AnalyticsInputError("group_by", (err as Error).message.replace(/^group_by: /, ""));
  }
  return dims as UsageDimension[];
}

function filters(raw: z.infer<typeof usageSchema>, timeZone: string, now: Temporal.Instant) {
  const range = parseRange(raw.from, raw.to, timeZone, now);
  return {
    ...range,
    ...(raw.key_id ? { keyId: Number(raw.key_id) } : {}),
    // As recorded: `llama3` finds the rows of `llama3:latest` (and of `LLaMA3`).
    ...(raw.model ? { model: recordedModel(raw.model) } : {}),
    ...(raw.route ? { route: raw.route } : {}),
  };
}

/** A usage question from parameters (`group_by` defaults to `day`). */
export function parseUsageParams(
  raw: RawParams,
  timeZone: string,
  now: Temporal.Instant,
): UsageQuery {
  const p = parsed(usageSchema, raw);
  const q: UsageQuery = { ...filters(p, timeZone, now), timeZone, groupBy: groupBy(p.group_by) };
  // Bounded work whatever is asked: the unit's limit first (it names group_by), then the range's.
  const unit = timeUnitOf(q.groupBy);
  if ((unit === "15m" || unit === "hour") && !atMostDays(q, MAX_DAYS_BY_UNIT[unit])) {
    throw new AnalyticsInputError(
      "group_by",
      `${unit} is for ranges of at most ${MAX_DAYS_BY_UNIT[unit]} days; choose a coarser unit`,
    );
  }
  if (!atMostDays(q, MAX_RANGE_DAYS)) {
    throw new AnalyticsInputError("from", `the range must be at most ${MAX_RANGE_DAYS} days`);
  }
  try {
    // Checked here, before any store call or stream starts: a range too long for its unit.
    localPeriods(q.fromMs, q.toMs, timeZone, timeUnitOf(q.groupBy));
  } catch (err) {
    throw new AnalyticsInputError("group_by", `${(err as Error).message}; choose a coarser unit`);
  }
  return q;
}

/**
 * A request-log question from parameters. With a cursor, the range is the cursor's (that of the
 * first page); a cursor from other filters is refused.
 */
export function parseRequestParams(
  raw: RawParams,
  timeZone: string,
  now: Temporal.Instant,
): RequestQuery {
  const p = parsed(requestSchema, raw);
  const limit = p.limit === undefined ? DEFAULT_PAGE : Number(p.limit);
  if (limit < 1 || limit > MAX_PAGE) {
    throw new AnalyticsInputError("limit", `must be a whole number from 1 to ${MAX_PAGE}`);
  }
  const q: RequestQuery = {
    ...filters(p, timeZone, now),
    limit,
    ...(p.status ? { status: p.status } : {}),
  };
  if (p.cursor) {
    // The cursor's range, not the one just resolved: a relative range moves with the clock.
    const page = decodeCursor(p.cursor, q);
    Object.assign(q, page);
  }
  return q;
}

/** An export request from parameters. */
export function parseExportParams(
  raw: RawParams,
  timeZone: string,
  now: Temporal.Instant,
):
  | { dataset: "usage"; format: ExportFormat; query: UsageQuery }
  | { dataset: "requests"; format: ExportFormat; query: RequestQuery } {
  const p = parsed(exportSchema, raw);
  const { dataset, format, group_by, status, ...rest } = p;
  if (dataset === "usage") {
    if (status) throw new AnalyticsInputError("status", "only the requests dataset has a status");
    return { dataset, format, query: parseUsageParams({ ...rest, group_by }, timeZone, now) };
  }
  if (group_by) throw new AnalyticsInputError("group_by", "only the usage dataset is grouped");
  return {
    dataset,
    format,
    query: { ...parseRequestParams({ ...rest, status }, timeZone, now), limit: MAX_PAGE },
  };
}
