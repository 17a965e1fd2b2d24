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
  noUsage,
  parseExpiry,
  updateApiKey,
} from "../core/api_keys.ts";
import { boxesModelList } from "./model_list.ts";
import { redactPath } from "../core/redact.ts";
import type { ApiKey } from "../core/model.ts";
import { requireAdminBearer } from "./auth.ts";
import type { CredentialGuard } from "./credential_guard.ts";
import { AdminError, validationError } from "./errors.ts";
import { DelegationProblem } from "../core/delegation.ts";
import {
  createGroup,
  groupFields,
  memberFields,
  memberLimitsWith,
  updateGroup,
} from "../core/groups.ts";
import type { Group } from "../core/model.ts";
import { requestWindows } from "../core/windows.ts";
import { proxyInfo } from "../core/proxy_info.ts";
import { createAnalyticsApi } from "./analytics_api.ts";
import { registerUpstreamRoutes } from "./upstreams_api.ts";
import type { Settings } from "../core/settings.ts";
import { ollamaUrlOf, SeveralUpstreams } from "../core/upstreams/records.ts";
import { setOllamaUrl, upstreamTableOf } from "../ops/upstreams.ts";
import {
  createGroupSchema,
  createKeySchema,
  idSchema,
  limitsSchema,
  settingsSchema,
  updateGroupSchema,
  updateKeySchema,
  updateMemberSchema,
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
  const secrets = deps.config.secretsKey;
  // A key's group must exist; delegation input must make sense (core/delegation.ts).
  const checked = async <T>(changes: KeyChanges, write: () => Promise<T>): Promise<T> => {
    const groupId = changes.group_id;
    if (typeof groupId === "number" && !await deps.store.getGroup(groupId)) {
      throw new AdminError(422, `group_id: there is no group ${groupId}`, "group_id");
    }
    try {
      return await write();
    } catch (err) {
      if (err instanceof DelegationProblem) throw new AdminError(422, err.message, err.field);
      throw err;
    }
  };
  const patch = async (c: Context, changes: KeyChanges) => {
    const id = parseId(c);
    const updated = await checked(
      changes,
      () => updateApiKey(deps.store, id, changes, deps.clock.now(), secrets),
    );
    return c.json(found(updated));
  };

  api.use(requireAdminBearer(deps, guard));

  api.get("/api-keys", async (c) => c.json(await listKeyViews(deps.store, deps.clock.now(), tz)));

  api.post("/api-keys", async (c) => {
    const input = await parseJson(c, createKeySchema);
    const created = await checked(input, () =>
      createApiKey(
        deps.store,
        { ...input, expires_at: expiryOrError(input.expires_at, tz) },
        deps.clock.now(),
        secrets,
      ));
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

  api.get("/api-keys/:id/members", async (c) => {
    const key = await deps.store.getKey(parseId(c));
    if (!key) throw new AdminError(404, "API key not found");
    const [members, usage] = await Promise.all([
      deps.store.listMembers(key.id),
      deps.store.usageByOwner("member", requestWindows(deps.clock.now(), tz)),
    ]);
    return c.json(members.map((m) => memberFields(key, m, usage.get(m.id) ?? noUsage())));
  });
  api.patch("/api-keys/:id/members/:member", async (c) => {
    const key = await deps.store.getKey(parseId(c));
    const memberId = idSchema.safeParse(c.req.param("member"));
    if (!key || !memberId.success) throw new AdminError(404, "Member not found");
    const input = await parseJson(c, updateMemberSchema);
    const member = (await deps.store.listMembers(key.id)).find((m) => m.id === memberId.data);
    if (!member) throw new AdminError(404, "Member not found");
    const updated = await deps.store.updateMember(key.id, member.id, {
      blocked: input.blocked,
      limits: input.limits === undefined
        ? undefined
        : memberLimitsWith(key, member, input.limits as Record<string, number | null> | null),
    });
    const usage = await deps.store.usageByOwner("member", requestWindows(deps.clock.now(), tz));
    return c.json(memberFields(key, updated!, usage.get(member.id) ?? noUsage()));
  });

  const groupView = async (group: Group) => {
    const [keys, usage] = await Promise.all([
      deps.store.listKeys(),
      deps.store.usageByOwner("group", requestWindows(deps.clock.now(), tz)),
    ]);
    return {
      ...groupFields(group),
      key_ids: keys.filter((k) => k.group_id === group.id).map((k) => k.id),
      usage: usage.get(group.id) ?? noUsage(),
    };
  };
  const groupId = (c: Context) => {
    const id = idSchema.safeParse(c.req.param("id"));
    if (!id.success) throw new AdminError(404, "Group not found");
    return id.data;
  };
  api.get("/groups", async (c) => {
    const groups = await deps.store.listGroups();
    return c.json(await Promise.all(groups.map(groupView)));
  });
  api.post("/groups", async (c) => {
    const input = await parseJson(c, createGroupSchema);
    if ((await deps.store.listGroups()).some((g) => g.name === input.name)) {
      throw new AdminError(409, `name: a group named ${JSON.stringify(input.name)} exists`, "name");
    }
    const group = await createGroup(deps.store, input, deps.clock.now());
    deps.log.info("group created", { id: group.id });
    return c.json(await groupView(group), 201);
  });
  api.patch("/groups/:id", async (c) => {
    const id = groupId(c);
    const input = await parseJson(c, updateGroupSchema);
    if (
      input.name !== undefined &&
      (await deps.store.listGroups()).some((g) => g.name === input.name && g.id !== id)
    ) {
      throw new AdminError(409, `name: a group named ${JSON.stringify(input.name)} exists`, "name");
    }
    const group = await updateGroup(deps.store, id, input);
    if (!group) throw new AdminError(404, "Group not found");
    return c.json(await groupView(group));
  });
  api.delete("/groups/:id", async (c) => {
    const result = await deps.store.deleteGroup(groupId(c), c.req.query("force") === "true");
    if (result === "missing") throw new AdminError(404, "Group not found");
    if (result === "has_keys") {
      throw new AdminError(
        409,
        "The group still has keys; move them out first, or delete with ?force=true to detach them",
      );
    }
    return c.body(null, 204);
  });

  // `ollama_url` is the boxes' URLs (one, for a one-box setup): the boxes table holds them.
  // Credentials in them show as ***; sent back so, they stay (setOllamaUrl).
  const settingsView = async (settings: Settings) => ({
    ...settings,
    ollama_url: ollamaUrlOf(await upstreamTableOf(deps).rows()),
  });
  api.get("/settings", async (c) => c.json(await settingsView(await deps.settings.get())));
  api.put("/settings", async (c) => {
    const input = await parseJson(c, settingsSchema);
    if (input.ollama_url) {
      input.ollama_url = input.ollama_url.replace(/\/+$/, "");
      try {
        // First, so that a refusal changes nothing else either.
        input.ollama_url = await setOllamaUrl(deps, input.ollama_url);
      } catch (err) {
        if (err instanceof SeveralUpstreams) throw new AdminError(409, err.message, "ollama_url");
        throw err;
      }
    }
    return c.json(await settingsView(await deps.settings.update(input)));
  });

  api.get("/ollama-models", async (c) => {
    const list = await boxesModelList(await upstreamTableOf(deps).configs());
    if (!list.ok) throw new AdminError(502, list.error);
    return c.json({ models: list.models });
  });

  api.get("/proxy-info", async (c) => {
    const { public_url } = await deps.settings.get();
    return c.json(proxyInfo(deps.config, public_url, c.req.header("host")));
  });

  api.route("/", createAnalyticsApi(deps));
  registerUpstreamRoutes(api, deps);

  api.all("*", (c) => {
    throw new AdminError(404, `Route ${c.req.method} ${redactPath(c.req.path)} not found`);
  });
  return api;
}
