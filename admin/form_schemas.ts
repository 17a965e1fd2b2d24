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
import { parseCidr } from "../core/cidr.ts";
import { MEMBER_LIMIT_FIELDS } from "../core/groups.ts";
import { type IdentityHeaders, OPENWEBUI_HEADERS } from "../core/model.ts";
import { hasControlCharacters } from "../core/text.ts";
import { headerField, memberField } from "../views/form_fields.ts";

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

const GROUP_MESSAGE = "Choose a group from the list";

/** The group select: "" is no group (null), otherwise a group's id (checked to exist later). */
const groupIdField = z.string({ error: GROUP_MESSAGE }).trim().regex(/^\d*$/, GROUP_MESSAGE)
  .transform((v) => v === "" ? null : Number(v))
  .refine((v) => v === null || (Number.isSafeInteger(v) && v > 0), GROUP_MESSAGE);

/** The create-key form. */
export const createKeyForm = z.object({
  name: keyNameField,
  expires_on: dateField.default(""),
  // No select on the page (no groups yet): no group.
  group_id: groupIdField.prefault(""),
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
  group_id: groupIdField.optional(),
  ...limitFieldsOf(limitField.optional()),
  models: modelsField.optional(),
  ...capFieldsOf(capField.optional()),
});

/** A key's own group choice on its page. */
export const keyGroupForm = z.object({ group_id: groupIdField });

/** The rule of core group names (admin/schemas.ts), worded for the form. */
const groupNameField = z.string({ error: "Give the group a name" }).trim()
  .min(1, "Give the group a name").max(100, "Use at most 100 characters")
  .refine((v) => !hasControlCharacters(v), "Use no tabs, line breaks or other control characters");

/** The create-group form: a name, every limit of LIMIT_KINDS and the models (no caps). */
export const createGroupForm = z.object({
  name: groupNameField,
  ...limitFieldsOf(limitField.prefault("")),
  models: modelsField.prefault(""),
});

/** The edit form of a group; a missing field leaves it unchanged. */
export const editGroupForm = z.object({
  name: groupNameField.optional(),
  ...limitFieldsOf(limitField.optional()),
  models: modelsField.optional(),
});

/** The member limits as form fields, each empty for no limit. */
const prefaultLimit = limitField.prefault("");
const memberLimitFields = Object.fromEntries(
  MEMBER_LIMIT_FIELDS.map((f) => [memberField(f), prefaultLimit]),
) as Record<string, typeof prefaultLimit>;

/** Back from the form fields to the API's member limit fields. */
export function memberLimitsOf(data: Record<string, unknown>): Record<string, number | null> {
  return Object.fromEntries(
    MEMBER_LIMIT_FIELDS.map((f) => [f, data[memberField(f)] as number | null]),
  );
}

/** A person's own limits (the member edit form). */
export const memberLimitsForm = z.object(memberLimitFields);

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

/** A header name field: empty is Open WebUI's default name. */
const headerNameField = (name: keyof IdentityHeaders) =>
  z.string({ error: "Enter a header name" }).trim().transform((v) => v || OPENWEBUI_HEADERS[name])
    .refine(
      (v) => HEADER_NAME.test(v),
      "Use letters, digits and - only (a header name such as X-OpenWebUI-User-Id)",
    );

const PEERS_MESSAGE =
  "Enter at least one address or range, e.g. 127.0.0.1/32 (Open WebUI on this machine)";

/** The trusted peers: addresses and CIDR ranges separated by commas, spaces or lines. */
const peersField = z.string({ error: PEERS_MESSAGE }).transform((text, ctx) => {
  const entries = [...new Set(text.split(/[\s,]+/).filter((e) => e !== ""))];
  if (entries.length === 0) {
    ctx.addIssue({ code: "custom", message: PEERS_MESSAGE });
    return z.NEVER;
  }
  if (entries.length > 100) {
    ctx.addIssue({ code: "custom", message: "Name at most 100 addresses or ranges" });
    return z.NEVER;
  }
  for (const entry of entries) {
    if (parseCidr(entry) === null) {
      ctx.addIssue({
        code: "custom",
        message: `“${entry.slice(0, 60)}” is not an IP address or range such as 10.0.0.0/8`,
      });
      return z.NEVER;
    }
  }
  return entries;
});

const HEADER_NAMES = Object.keys(OPENWEBUI_HEADERS) as Array<keyof IdentityHeaders>;

/**
 * The delegation form of a key page. The JWT secret is write-only: empty keeps the stored one,
 * `clear_secret` removes it. Fields other than `identity` are read only when it is not "".
 */
export const delegationForm = z.object({
  identity: z.enum(["", "openwebui-headers", "openwebui-jwt"], {
    error: "Choose how the gateway tells people apart",
  }),
  trusted_peers: peersField.prefault(""),
  ...Object.fromEntries(
    HEADER_NAMES.map((name) => [headerField(name), headerNameField(name).prefault("")]),
  ) as Record<string, z.ZodType<string, string | undefined>>,
  identity_secret: z.string({ error: "Enter the secret" }).max(
    1000,
    "Use at most 1,000 characters",
  ).refine(
    (v) => v === "" || v.length >= 16,
    "Use at least 16 characters: the same as Open WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET",
  ).refine((v) => !hasControlCharacters(v), "Use no tabs, line breaks or control characters")
    .prefault(""),
  clear_secret: z.string().optional().transform((v) => v === "yes"),
  ...memberLimitFields,
  on_missing_identity: z.enum(["unattributed", "reject"], {
    error: "Choose what happens to calls that name nobody",
  }).prefault("unattributed"),
});

/** The identity headers from the delegation form's fields. */
export function identityHeadersOf(data: Record<string, unknown>): IdentityHeaders {
  return Object.fromEntries(
    HEADER_NAMES.map((name) => [name, data[headerField(name)] as string]),
  ) as unknown as IdentityHeaders;
}

/** The members list's search and page (query string); bad values show the first page. */
export const memberQuery = z.object({
  q: z.string().trim().max(200).catch("").default(""),
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1).default(1),
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
