/**
 * Reading and checking the forms of the admin UI.
 * @module
 */
import type { Context } from "hono";
import type { z } from "zod";
import type { FormState } from "../views/form_state.ts";
import { AdminError } from "./errors.ts";
import { fieldErrors } from "./form_schemas.ts";
import { idSchema } from "./schemas.ts";

/** The text fields of a submitted form (urlencoded or multipart); files are dropped. */
export async function readForm(c: Context): Promise<Record<string, string>> {
  let body: Record<string, unknown>;
  try {
    body = await c.req.parseBody();
  } catch {
    throw new AdminError(400, "Cannot read the submitted form");
  }
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(body)) {
    if (typeof value === "string") values[name] = value;
  }
  return values;
}

/** A form checked against a schema: its data, or the entered values with an error per field. */
export type Checked<T> = { ok: true; data: T } | { ok: false; form: FormState };

/** Checks entered values; on failure keeps them so the form can show them again. */
export function checkForm<T extends z.ZodType>(
  schema: T,
  values: Record<string, string>,
): Checked<z.infer<T>> {
  const result = schema.safeParse(values);
  if (result.success) return { ok: true, data: result.data };
  return { ok: false, form: { values, errors: fieldErrors(result.error) } };
}

/** The key id in the path, or 404 (a malformed id names no key). */
export function keyIdParam(c: Context): number {
  const result = idSchema.safeParse(c.req.param("id"));
  if (!result.success) throw new AdminError(404, "This key does not exist");
  return result.data;
}
