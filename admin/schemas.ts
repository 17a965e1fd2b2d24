/**
 * Request bodies of the admin JSON API.
 * @module
 */
import { z } from "zod";
import { keyNameSchema } from "../core/key_name.ts";

const limit = z.number({ error: "must be a whole number ≥ 0 or null" }).int(
  "must be a whole number ≥ 0 or null",
).min(0, "must be a whole number ≥ 0 or null").max(Number.MAX_SAFE_INTEGER).nullable()
  .optional();
const name = keyNameSchema();
const expiresAt = z.string({ error: "must be an ISO date or date-time, or null" }).nullable()
  .optional();

/** The four limits; each null = unlimited. */
export const limitsSchema = z.strictObject({
  daily_request_limit: limit,
  monthly_request_limit: limit,
  daily_token_limit: limit,
  monthly_token_limit: limit,
});

/** POST /api/api-keys. */
export const createKeySchema = limitsSchema.extend({ name, expires_at: expiresAt });

/** PATCH /api/api-keys/{id}. */
export const updateKeySchema = z.strictObject({ name: name.optional(), expires_at: expiresAt });

/** PUT /api/settings. */
export const settingsSchema = z.strictObject({
  ollama_url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  default_model: z.string().trim().min(1, "must not be empty").max(200).optional(),
});

/** A key id in a path. */
export const idSchema = z.coerce.number().int().positive();
