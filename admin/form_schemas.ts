/**
 * The admin UI's form and query inputs, as zod schemas over the strings a browser sends.
 * Messages are written for the person at the form, shown next to the field.
 * @module
 */
import { z } from "zod";
import { CAP_FIELDS, type CapField } from "../core/api_keys.ts";
import { LIMIT_KINDS, type LimitField } from "../core/limits.ts";
import { publicUrlField } from "../core/public_url.ts";
import { keyNameSchema, MAX_KEY_NAME_LENGTH } from "../core/key_name.ts";

const LIMIT_MESSAGE = "Enter a whole number of 0 or more, or leave empty for unlimited";

/** A limit field: empty means unlimited (null), otherwise a whole number ≥ 0. */
const limitField = z.string({ error: LIMIT_MESSAGE }).trim().regex(/^\d*$/, LIMIT_MESSAGE)
  .transform((v) => v === "" ? null : Number(v))
  .refine((v) => v === null || Number.isSafeInteger(v), "This number is too large");

const CAP_MESSAGE = "Enter a whole number of 1 or more, or leave empty for no cap";

/** A cap field: empty means none (null), otherwise a whole number ≥ 1. */
const capField = z.string({ error: CAP_MESSAGE }).trim().regex(/^\d*$/, CAP_MESSAGE)
  .transform((v) => v === "" ? null : Number(v))
  .refine((v) => v === null || v >= 1, CAP_MESSAGE)
  .refine((v) => v === null || Number.isSafeInteger(v), "This number is too large");

// Ollama's model names (`[host[:port]/][namespace/]model[:tag][@digest]`), or `family:*`. A `*`
// anywhere else would be taken literally and match nothing, so the form says so.
const MODEL_NAME = /^[a-z0-9][a-z0-9._\-/:@]*$/i;
const MODEL_GLOB = /^[a-z0-9][a-z0-9._\-/:]*:\*$/i;

/** Why one entry of the models field is not a model name or glob, or null when it is. */
function modelEntryError(entry: string): string | null {
  if (entry.length > 600) return `“${entry.slice(0, 40)}…” is too long for a model name`;
  if (MODEL_NAME.test(entry) || MODEL_GLOB.test(entry)) return null;
  if (entry === "*") return "Leave the field empty to allow every model";
  if (entry.includes("*")) {
    return `“${entry}”: a * stands only for a whole tag, as in qwen3:* (every tag of qwen3)`;
  }
  return `“${entry}” is not a model name: use names such as llama3 or qwen3:8b`;
}

/**
 * The models field: names and `family:*` globs separated by commas, spaces or lines. Empty
 * means every model (null): the API's empty list, which would allow none, cannot be entered.
 */
const modelsField = z.string({ error: "Enter model names separated by commas" }).transform(
  (text, ctx) => {
    const entries = [...new Set(text.split(/[\s,]+/).filter((e) => e !== ""))];
    if (entries.length === 0) return null;
    if (entries.length > 1000) {
      ctx.addIssue({ code: "custom", message: "Name at most 1,000 models" });
      return z.NEVER;
    }
    for (const entry of entries) {
      const message = modelEntryError(entry);
      if (message) {
        ctx.addIssue({ code: "custom", message });
        return z.NEVER;
      }
    }
    return entries;
  },
);

/** One schema per limit kind of LIMIT_KINDS, each field named as in the API. */
function limitFieldsOf<T extends z.ZodType>(schema: T): Record<LimitField, T> {
  return Object.fromEntries(LIMIT_KINDS.map((k) => [k.field, schema])) as Record<LimitField, T>;
}

/** One schema per cap field. */
function capFieldsOf<T extends z.ZodType>(schema: T): Record<CapField, T> {
  return Object.fromEntries(CAP_FIELDS.map((name) => [name, schema])) as Record<CapField, T>;
}

/** A date field (yyyy-mm-dd) or empty for "never expires". */
const dateField = z.string({ error: "Enter a date such as 2026-12-31" }).trim().refine(
  (v) => v === "" || (/^\d{4}-\d{2}-\d{2}$/.test(v) && isCalendarDate(v)),
  "Enter a date such as 2026-12-31, or leave empty for no expiry",
);

function isCalendarDate(text: string): boolean {
  try {
    Temporal.PlainDate.from(text, { overflow: "reject" });
    return true;
  } catch {
    return false;
  }
}

/** A key's name as the forms take it: the one rule of core/key_name.ts, worded for a person. */
export const keyNameField = keyNameSchema({
  not_text: "Give the key a name",
  empty: "Give the key a name",
  too_long: `Use at most ${MAX_KEY_NAME_LENGTH} characters`,
  control_character: "Use no tabs, line breaks or other control characters",
});

/** The create-key form. */
export const createKeyForm = z.object({
  name: keyNameField,
  expires_on: dateField.default(""),
  // A missing policy field is parsed like an empty one (zod's prefault): no limit.
  ...limitFieldsOf(limitField.prefault("")),
  models: modelsField.prefault(""),
  ...capFieldsOf(capField.prefault("")),
});

/**
 * The inline edit form of a key: its name, policy and expiry. A missing name or policy field
 * (a page from before the field existed) leaves it unchanged.
 */
export const editKeyForm = z.object({
  name: createKeyForm.shape.name.optional(),
  expires_on: dateField.default(""),
  ...limitFieldsOf(limitField.optional()),
  models: modelsField.optional(),
  ...capFieldsOf(capField.optional()),
});

/** The key list's filter (query string); unknown values fall back to showing everything. */
export const keyFilterQuery = z.object({
  name: z.string().trim().max(MAX_KEY_NAME_LENGTH).catch("").default(""),
  status: z.enum(["all", "active", "deactivated", "expired", "idle"]).catch("all").default("all"),
});

/** The settings form; `default_model` comes from the model list or the free-text fallback. */
export const settingsForm = z.object({
  ollama_url: z.string({ error: "Enter the address of Ollama" }).trim().pipe(
    z.url({ protocol: /^https?$/, error: "Enter an http:// or https:// address" }),
  ).transform((u) => u.replace(/\/+$/, "")),
  default_model: z.string({ error: "Choose or type a model name" }).trim().min(
    1,
    "Choose or type a model name",
  ).max(200, "Use at most 200 characters"),
  // Absent (a form from before the field existed) changes nothing; empty clears it.
  public_url: publicUrlField(
    "Enter an http:// or https:// address such as http://gpu-box:8000, without user name, query or fragment, or leave it empty",
  ).optional(),
});

/** The "test connection" action needs only the URL. */
export const connectionForm = settingsForm.pick({ ollama_url: true });

/** The login form. */
export const loginForm = z.object({
  password: z.string({ error: "Enter the admin password" }).min(1, "Enter the admin password")
    .max(1000, "Enter the admin password"),
  next: z.string().catch("").default(""),
});

/** Errors of a failed form parse: the first message for each field. */
export type FieldErrors = Record<string, string>;

/** Collects a zod error into one message per field, for showing next to each input. */
export function fieldErrors(error: z.ZodError): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? "form");
    errors[field] ??= issue.message;
  }
  return errors;
}
