/**
 * Request bodies of the admin JSON API.
 * @module
 */
import {
  MAX_IN_FLIGHT_CEILING,
  MAX_UPSTREAM_NAME_LENGTH,
  UPSTREAM_NAME_PATTERN,
  UPSTREAM_NAME_RULE,
} from "../core/upstreams/records.ts";
import { z } from "zod";
import { LIMIT_KINDS, type LimitField } from "../core/limits.ts";
import { publicUrlField } from "../core/public_url.ts";
import { keyNameSchema } from "../core/key_name.ts";
import { parseCidr } from "../core/cidr.ts";
import { MEMBER_LIMIT_FIELDS } from "../core/groups.ts";
import { hasControlCharacters } from "../core/text.ts";

const limit = z.number({ error: "must be a whole number ≥ 0 or null" }).int(
  "must be a whole number ≥ 0 or null",
).min(0, "must be a whole number ≥ 0 or null").max(Number.MAX_SAFE_INTEGER).nullable()
  .optional();
const name = keyNameSchema();
const expiresAt = z.string({ error: "must be an ISO date or date-time, or null" }).nullable()
  .optional();

const positiveOrNull = z.number({ error: "must be a whole number ≥ 1 or null" }).int(
  "must be a whole number ≥ 1 or null",
).min(1, "must be a whole number ≥ 1 or null").max(Number.MAX_SAFE_INTEGER).nullable().optional();

/** Every policy field of a key (each limit of LIMIT_KINDS, the model list, the caps). */
export const limitsSchema = z.strictObject({
  ...Object.fromEntries(LIMIT_KINDS.map((k) => [k.field, limit])) as Record<
    LimitField,
    typeof limit
  >,
  models: z.array(
    z.string({ error: "must be a list of model names" }).trim().min(1, "must not be empty")
      .max(600, "must be at most 600 characters"),
    { error: "must be a list of model names, or null for every model" },
  ).min(1, "must name at least one model, or be null for every model").max(1000).nullable()
    .optional(),
  max_output_tokens: positiveOrNull,
  max_num_ctx: positiveOrNull,
  idle_days: positiveOrNull,
});

const cidr = z.string({ error: "must be a list of IP addresses or CIDR ranges" }).trim().refine(
  (v) => parseCidr(v) !== null,
  { error: (i) => `${JSON.stringify(i.input)} is not an IP address or CIDR range (10.0.0.0/8)` },
);
const headerName = z.string().trim().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, {
  error: "must be an HTTP header name",
});

/** The limits a delegating key gives each person (day and month, per minute, at a time). */
const memberLimitsSchema = z.strictObject(
  Object.fromEntries(MEMBER_LIMIT_FIELDS.map((f) => [f, limit])) as Record<string, typeof limit>,
);

/** The delegation fields of a key (core/delegation.ts); identity_secret is write-only. */
const delegationFields = {
  group_id: z.number({ error: "must be a group id or null" }).int().positive().nullable()
    .optional(),
  identity: z.enum(["openwebui-headers", "openwebui-jwt"], {
    error: 'must be "openwebui-headers", "openwebui-jwt" or null',
  }).nullable().optional(),
  trusted_peers: z.array(cidr).max(100).optional(),
  identity_headers: z.strictObject({
    user_id: headerName.optional(),
    email: headerName.optional(),
    name: headerName.optional(),
    role: headerName.optional(),
    chat_id: headerName.optional(),
    jwt: headerName.optional(),
  }).optional(),
  identity_secret: z.string({ error: "must be a text, or null" }).min(
    16,
    "must be at least 16 characters (Open WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET)",
  ).max(1000).nullable().optional(),
  member_limits: memberLimitsSchema.optional(),
  on_missing_identity: z.enum(["reject", "unattributed"], {
    error: 'must be "reject" or "unattributed"',
  }).optional(),
};

/** POST /api/api-keys. */
export const createKeySchema = limitsSchema.extend({
  name,
  expires_at: expiresAt,
  ...delegationFields,
});

/** PATCH /api/api-keys/{id}. */
export const updateKeySchema = limitsSchema.extend({
  name: name.optional(),
  expires_at: expiresAt,
  ...delegationFields,
});

const groupName = z.string({ error: "must be a text" }).trim().min(1, "must not be empty").max(
  100,
  "must be at most 100 characters",
).refine((v) => !hasControlCharacters(v), "must not contain control characters");

/** The limits a group may have: those of keys, and a model list; no caps. */
const groupLimits = limitsSchema.pick({
  ...Object.fromEntries(LIMIT_KINDS.map((k) => [k.field, true])) as Record<LimitField, true>,
  models: true,
});

/** POST /api/groups. */
export const createGroupSchema = groupLimits.extend({ name: groupName });

/** PATCH /api/groups/{id}. */
export const updateGroupSchema = groupLimits.extend({ name: groupName.optional() });

/** PATCH /api/api-keys/{id}/members/{member_id}: block, or own limits (null: the key's). */
export const updateMemberSchema = z.strictObject({
  blocked: z.boolean({ error: "must be true or false" }).optional(),
  limits: memberLimitsSchema.nullable().optional(),
});

const count = (min: number) =>
  z.number({ error: `must be a whole number ≥ ${min}` }).int(`must be a whole number ≥ ${min}`)
    .min(min, `must be a whole number ≥ ${min}`).max(Number.MAX_SAFE_INTEGER);

/** PUT /api/settings: every field of core/settings.ts, each optional. */
export const settingsSchema = z.strictObject({
  ollama_url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  default_model: z.string().trim().min(1, "must not be empty").max(200).optional(),
  keep_alive_max_seconds: count(0).optional(),
  num_ctx_by_model: z.record(
    z.string().trim().min(1, "model names must not be empty").max(600),
    count(1),
    { error: 'must map model names to context lengths, e.g. {"llama3": 8192}' },
  ).optional(),
  num_ctx_max: count(1).nullable().optional(),
  allow_cloud_models: z.boolean({ error: "must be true or false" }).optional(),
  allow_web_search: z.boolean({ error: "must be true or false" }).optional(),
  allow_template_override: z.boolean({ error: "must be true or false" }).optional(),
  // "" or null: none set (PUBLIC_URL applies, else the address is derived).
  public_url: publicUrlField(
    'must be an http(s) URL without user name, query or fragment, "" or null',
  ).nullable().transform((v) => v ?? "").optional(),
});

/** A key id in a path. */
export const idSchema = z.coerce.number().int().positive();

/** An Ollama box's name: shown in metrics, logs, /readyz; so no credentials or odd characters. */
const upstreamNameField = z.string({ error: "must be a text" }).trim().min(1, "must not be empty")
  .max(MAX_UPSTREAM_NAME_LENGTH, `must be at most ${MAX_UPSTREAM_NAME_LENGTH} characters`).regex(
    UPSTREAM_NAME_PATTERN,
    UPSTREAM_NAME_RULE,
  );
const upstreamUrlField = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" })
  .transform((u) => u.replace(/\/+$/, ""));
const upstreamToken = z.string({ error: "must be a text or null" }).max(
  4096,
  "must be at most 4096 characters",
).refine((v) => !hasControlCharacters(v), "must not contain control characters").nullable();
const MAX_IN_FLIGHT_RULE = `must be a whole number from 1 to ${MAX_IN_FLIGHT_CEILING}, or null`;
const maxInFlight = z.number({ error: MAX_IN_FLIGHT_RULE }).int(MAX_IN_FLIGHT_RULE).min(
  1,
  MAX_IN_FLIGHT_RULE,
).max(MAX_IN_FLIGHT_CEILING, MAX_IN_FLIGHT_RULE).nullable();

/** POST /api/upstreams: a URL at least; the name defaults to its host and port. */
export const createUpstreamSchema = z.strictObject({
  name: upstreamNameField.optional(),
  url: upstreamUrlField,
  token: upstreamToken.optional(),
  enabled: z.boolean({ error: "must be true or false" }).optional(),
  max_in_flight: maxInFlight.optional(),
});

/** PATCH /api/upstreams/{id}: any field; `token: null` or "" removes the token. */
export const updateUpstreamSchema = createUpstreamSchema.partial();
