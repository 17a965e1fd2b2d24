/**
 * The admin UI's form and query inputs, as zod schemas over the strings a browser sends.
 * Messages are written for the person at the form, shown next to the field.
 * @module
 */
import { z } from "zod";
import { publicUrlField } from "../core/public_url.ts";
import { keyNameSchema, MAX_KEY_NAME_LENGTH } from "../core/key_name.ts";

const LIMIT_MESSAGE = "Enter a whole number of 0 or more, or leave empty for unlimited";

/** A limit field: empty means unlimited (null), otherwise a whole number ≥ 0. */
const limitField = z.string({ error: LIMIT_MESSAGE }).trim().regex(/^\d*$/, LIMIT_MESSAGE)
  .transform((v) => v === "" ? null : Number(v))
  .refine((v) => v === null || Number.isSafeInteger(v), "This number is too large");

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

const limitFields = {
  // A missing field is parsed like an empty one (zod's prefault), i.e. unlimited.
  daily_request_limit: limitField.prefault(""),
  monthly_request_limit: limitField.prefault(""),
  daily_token_limit: limitField.prefault(""),
  monthly_token_limit: limitField.prefault(""),
};

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
  ...limitFields,
});

/** The inline edit form of a key: its name (absent: unchanged), limits and expiry. */
export const editKeyForm = z.object({
  name: createKeyForm.shape.name.optional(),
  expires_on: dateField.default(""),
  ...limitFields,
});

/** The key list's filter (query string); unknown values fall back to showing everything. */
export const keyFilterQuery = z.object({
  name: z.string().trim().max(MAX_KEY_NAME_LENGTH).catch("").default(""),
  status: z.enum(["all", "active", "deactivated", "expired"]).catch("all").default("all"),
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
