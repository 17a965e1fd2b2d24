/**
 * The admin listener's error type, turned into a JSON response in one onError.
 * @module
 */
import type { z } from "zod";

/**
 * An error the admin answers itself; `field` names the input at fault, `headers` go on the
 * answer (Retry-After on a 429, WWW-Authenticate on a 401).
 */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/** Converts a failed zod parse into a 422 AdminError naming the first field at fault. */
export function validationError(error: z.ZodError): AdminError {
  const issue = error.issues[0];
  const field = issue.path.length
    ? issue.path.join(".")
    : (issue.code === "unrecognized_keys" ? issue.keys[0] : "body");
  const message = issue.code === "unrecognized_keys"
    ? `${field}: unknown field`
    : `${field}: ${issue.message}`;
  return new AdminError(422, message, field);
}
