/**
 * The admin JSON API under /api: keys, limits, settings, models, proxy info.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { z } from "zod";
import type { Deps } from "../deps.ts";
import {
  createApiKey,
  type KeyChanges,
  keyFields,
  keyStatus,
  listKeyViews,
  parseExpiry,
  updateApiKey,
} from "../core/api_keys.ts";
import { ollamaModels, OllamaUnavailable } from "../core/ollama.ts";
import { redactPath } from "../core/redact.ts";
import type { ApiKey } from "../core/model.ts";
import { requireAdminBearer } from "./auth.ts";
import type { CredentialGuard } from "./credential_guard.ts";
import { AdminError, validationError } from "./errors.ts";
import { proxyInfo } from "./proxy_info.ts";
import {
  createKeySchema,
  idSchema,
  limitsSchema,
  settingsSchema,
  updateKeySchema,
} from "./schemas.ts";

/** Reads a JSON body and validates it, or throws 400 (not JSON) / 422 (invalid field). */
export async function parseJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  let body: unknown;
  try {
    // Fatal decoding: a body that is not UTF-8 is refused, not stored with U+FFFD in it.
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await c.req.arrayBuffer()));
  } catch (err) {
    if (err instanceof AdminError) throw err;
    throw new AdminError(400, "Cannot parse request body: expected a JSON object in UTF-8");
  }
  const result = schema.safeParse(body);
  if (!result.success) throw validationError(result.error);
  return result.data;
}

function parseId(c: Context): number {
  const result = idSchema.safeParse(c.req.param("id"));
  if (!result.success) throw new AdminError(404, "API key not found");
  return result.data;
}

/** Turns an admin-given expiry into the stored form, or throws 422 naming expires_at. */
export function expiryOrError(value: string | null | undefined, timeZone: string) {
  if (value === undefined || value === null || value.trim() === "") {
    return value === "" ? null : value;
  }
  try {
    return parseExpiry(value, timeZone);
  } catch {
    throw new AdminError(
      422,
      "expires_at: must be an ISO date (2026-12-31) or date-time, or null",
      "expires_at",
    );
  }
}

/** Builds the /api routes of the admin listener; `guard` throttles its password checks. */
export function createAdminApi(deps: Deps, guard: CredentialGuard): Hono {
  const api = new Hono();
  const tz = deps.config.timeZone;
  const view = (key: ApiKey) => ({ ...keyFields(key), status: keyStatus(key, deps.clock.now()) });
  const found = (key: ApiKey | null) => {
    if (!key) throw new AdminError(404, "API key not found");
    return view(key);
  };
  const patch = async (c: Context, changes: KeyChanges) =>
    c.json(found(await updateApiKey(deps.store, parseId(c), changes, deps.clock.now())));

  api.use(requireAdminBearer(deps, guard));

  api.get("/api-keys", async (c) => c.json(await listKeyViews(deps.store, deps.clock.now(), tz)));

  api.post("/api-keys", async (c) => {
    const input = await parseJson(c, createKeySchema);
    const created = await createApiKey(
      deps.store,
      { ...input, expires_at: expiryOrError(input.expires_at, tz) },
      deps.clock.now(),
    );
    deps.log.info("api key created", { id: created.id, key: created.prefix });
    return c.json({ ...view(created), key: created.key }, 201);
  });

  api.put("/api-keys/:id/deactivate", (c) => patch(c, { active: false }));
  api.put("/api-keys/:id/activate", (c) => patch(c, { active: true }));
  api.patch("/api-keys/:id/quota", async (c) => patch(c, await parseJson(c, limitsSchema)));
  api.patch("/api-keys/:id", async (c) => {
    const input = await parseJson(c, updateKeySchema);
    return patch(c, { ...input, expires_at: expiryOrError(input.expires_at, tz) });
  });
  api.delete("/api-keys/:id", async (c) => {
    if (!await deps.store.deleteKey(parseId(c))) throw new AdminError(404, "API key not found");
    return c.body(null, 204);
  });

  api.get("/settings", async (c) => c.json(await deps.settings.get()));
  api.put("/settings", async (c) => {
    const input = await parseJson(c, settingsSchema);
    if (input.ollama_url) input.ollama_url = input.ollama_url.replace(/\/+$/, "");
    return c.json(await deps.settings.update(input));
  });

  api.get("/ollama-models", async (c) => {
    const { ollama_url } = await deps.settings.get();
    try {
      return c.json({ models: await ollamaModels(ollama_url) });
    } catch (err) {
      if (err instanceof OllamaUnavailable) throw new AdminError(502, err.message);
      throw err;
    }
  });

  api.get("/proxy-info", async (c) => {
    const { public_url } = await deps.settings.get();
    return c.json(proxyInfo(deps.config, public_url, c.req.header("host")));
  });

  api.all("*", (c) => {
    throw new AdminError(404, `Route ${c.req.method} ${redactPath(c.req.path)} not found`);
  });
  return api;
}
