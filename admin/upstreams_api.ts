/**
 * The admin JSON API of the Ollama boxes: `GET/POST /api/upstreams`,
 * `PATCH/DELETE /api/upstreams/{id}`. The token is write-only: answers say whether one is set.
 * A box added, changed or re-enabled reaches this instance's pool at once (and is probed), and
 * every other instance's within seconds.
 * @module
 */
import type { Hono } from "hono";
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { createUpstream, updateUpstream, type UpstreamResult } from "../core/upstreams/admin.ts";
import type { StoredUpstream } from "../core/upstreams/records.ts";
import { type UpstreamStatusView, upstreamStatusView } from "../core/upstreams/status_view.ts";
import { redactUrl } from "../core/redact.ts";
import { upstreamsChanged, upstreamsOf, upstreamTableOf } from "../ops/upstreams.ts";
import { AdminError } from "./errors.ts";
import { parseJson } from "./api.ts";
import { createUpstreamSchema, idSchema, updateUpstreamSchema } from "./schemas.ts";

/** Every box with its live state, in table order. */
export async function upstreamStatusViews(deps: Deps): Promise<UpstreamStatusView[]> {
  const rows = await upstreamTableOf(deps).rows();
  const pool = upstreamsOf(deps);
  await pool.sync();
  const statuses = new Map(pool.status().map((s) => [s.id, s]));
  const now = deps.clock.now().epochMilliseconds;
  return rows.map((r) =>
    upstreamStatusView(r, statuses.get(String(r.id)), pool.routing, deps.config.secretsKey, now)
  );
}

function upstreamId(c: Context): number {
  const result = idSchema.safeParse(c.req.param("id"));
  if (!result.success) throw new AdminError(404, "Ollama box not found");
  return result.data;
}

/** The row of a change, or the admin's 404/409. */
export function rowOrError(result: UpstreamResult): StoredUpstream {
  if (result.kind === "missing") throw new AdminError(404, "Ollama box not found");
  if (result.kind === "name_taken") {
    throw new AdminError(
      409,
      `name: an Ollama box named ${JSON.stringify(result.name)} exists`,
      "name",
    );
  }
  return result.row;
}

/** The time of a change, as stored. */
export function changedAt(deps: Deps): string {
  return new Date(deps.clock.now().epochMilliseconds).toISOString();
}

/** Registers the routes on the admin API (behind its bearer check). */
export function registerUpstreamRoutes(api: Hono, deps: Deps): void {
  const key = deps.config.secretsKey;
  const one = async (id: number) => {
    const views = await upstreamStatusViews(deps);
    return views.find((v) => v.id === id)!;
  };
  api.get("/upstreams", async (c) => c.json(await upstreamStatusViews(deps)));
  api.post("/upstreams", async (c) => {
    const input = await parseJson(c, createUpstreamSchema);
    const row = rowOrError(await createUpstream(deps.store, input, key, changedAt(deps)));
    deps.log.info("Ollama box added", { id: row.id, name: row.name, url: redactUrl(row.url) });
    await upstreamsChanged(deps);
    return c.json(await one(row.id), 201);
  });
  api.patch("/upstreams/:id", async (c) => {
    const id = upstreamId(c);
    const input = await parseJson(c, updateUpstreamSchema);
    const row = rowOrError(await updateUpstream(deps.store, id, input, key, changedAt(deps)));
    // The token is never logged: only that it changed.
    deps.log.info("Ollama box changed", {
      id,
      fields: Object.keys(input).join(","),
      url: redactUrl(row.url),
    });
    await upstreamsChanged(deps);
    return c.json(await one(row.id));
  });
  api.delete("/upstreams/:id", async (c) => {
    const id = upstreamId(c);
    if (!await deps.store.deleteUpstream(id)) throw new AdminError(404, "Ollama box not found");
    deps.log.info("Ollama box deleted", { id });
    await upstreamsChanged(deps);
    return c.body(null, 204);
  });
}
