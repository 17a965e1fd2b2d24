/**
 * Admin authentication for the JSON API: `Authorization: Bearer <ADMIN_PASSWORD>`.
 * @module
 */
import { createMiddleware } from "hono/factory";
import { secretsEqual } from "../core/secrets.ts";
import { AdminError } from "./errors.ts";

/** Whether the request carries the admin password as a bearer token. */
export function hasAdminBearer(headers: Headers, password: string): boolean {
  const auth = headers.get("authorization") ?? "";
  const match = /^bearer\s+(.+)$/i.exec(auth.trim());
  return match !== null && secretsEqual(match[1], password);
}

/** Refuses API calls without the admin password with 401. */
export function requireAdminBearer(password: string) {
  return createMiddleware(async function requireAdminBearer(c, next) {
    if (!hasAdminBearer(c.req.raw.headers, password)) {
      throw new AdminError(401, "Admin authentication required: Authorization: Bearer <password>");
    }
    await next();
  });
}
