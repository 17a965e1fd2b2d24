/**
 * The query string of the Usage and Requests pages: checked field by field, so a wrong date or
 * key shows next to its field on the page (422) instead of failing the request.
 * @module
 */
import { z } from "zod";
import {
  dateRange,
  presetRange,
  RANGE_PRESETS,
  type RangePreset,
  type TimeRange,
} from "../core/analytics/range_presets.ts";
import { recordedModel } from "../core/analytics/recorded_model.ts";
import type { RequestStatus } from "../core/analytics/types.ts";
import { hasAnyControlCharacters } from "../core/text.ts";
import { type AnalyticsQuery, STATUS_OPTIONS } from "../views/analytics_filters.tsx";

/** The filters of a checked query, as the store takes them. */
export interface AnalyticsFilter {
  keyId?: number;
  model?: string;
  route?: string;
  status?: RequestStatus;
}

/** A checked query: the range and filters, or the fields at fault. */
export interface CheckedQuery {
  /** What was entered, to show again. */
  query: AnalyticsQuery;
  errors: Record<string, string>;
  /** Null when a field is wrong. */
  range: TimeRange | null;
  filter: AnalyticsFilter;
  by: "model" | "key";
  cursor: string;
}

const text = (max: number, what: string) =>
  z.string().trim().max(max, `This ${what} is too long`)
    .refine((v) => !hasAnyControlCharacters(v), `This ${what} has characters no ${what} has`);

const fields = {
  key_id: z.string().trim().regex(/^\d{0,15}$/, "Choose a key from the list")
    .transform((v) => v === "" ? undefined : Number(v))
    .refine((v) => v === undefined || v >= 1, "Choose a key from the list"),
  model: text(600, "model name"),
  route: text(200, "route"),
  status: z.enum(["", ...STATUS_OPTIONS.map((s) => s.id)], { error: "Choose a status" }),
  by: z.enum(["", "model", "key"], { error: "Stack by model or by key" }),
  range: z.enum(["", ...RANGE_PRESETS.map((r) => r.id)], {
    error: "Choose one of the ranges above",
  }),
};

/**
 * Checks the query of an analytics page at `now`. Dates win over a preset; neither: the
 * default preset.
 */
export function checkAnalyticsQuery(
  raw: Record<string, string>,
  now: Temporal.Instant,
  timeZone: string,
  defaultPreset: RangePreset,
): CheckedQuery {
  const get = (name: string) => raw[name] ?? "";
  const query: AnalyticsQuery = {
    range: get("range"),
    from: get("from"),
    to: get("to"),
    key_id: get("key_id"),
    model: get("model"),
    route: get("route"),
    status: get("status"),
    by: get("by"),
  };
  const errors: Record<string, string> = {};
  const parsed: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(fields)) {
    const result = schema.safeParse(get(name));
    if (result.success) parsed[name] = result.data;
    else errors[name] = result.error.issues[0].message;
  }
  let range: TimeRange | null = null;
  if (query.from.trim() !== "" || query.to.trim() !== "") {
    const r = dateRange(query.from, query.to, now, timeZone);
    if ("field" in r) errors[r.field] = r.message;
    else range = r;
  } else if (!errors.range) {
    range = presetRange((parsed.range as RangePreset) || defaultPreset, now, timeZone);
  }
  const filter: AnalyticsFilter = {
    keyId: parsed.key_id as number | undefined,
    // As recorded (`llama3` finds `llama3:latest`); the field shows what was entered.
    model: parsed.model ? recordedModel(parsed.model as string) : undefined,
    route: (parsed.route as string) || undefined,
    status: (parsed.status as RequestStatus) || undefined,
  };
  return {
    query,
    errors,
    range: Object.keys(errors).length === 0 ? range : null,
    filter,
    by: parsed.by === "key" ? "key" : "model",
    cursor: get("cursor"),
  };
}
