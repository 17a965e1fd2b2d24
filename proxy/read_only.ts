/**
 * Read-only Ollama routes (model lists, version, show): a key is needed, no quota is used, and
 * a key limited to some models sees only those (and is refused the others' details).
 * @module
 */
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { canonical } from "../core/go_json.ts";
import { modelAllowed } from "../core/model_names.ts";
import { databaseUnavailable, type ProxyEnv } from "./auth.ts";
import { ProxyError } from "./errors.ts";
import { SHOW_REQUEST } from "./ollama_shapes.ts";
import { modelNotAllowed } from "./quota_errors.ts";
import type { ReadOnlyRoute } from "./routes.ts";
import { clientHeaders, nonJsonError } from "./upstream.ts";
import { readUpstream } from "./read_upstream.ts";

type Json = Record<string, unknown>;

/** Forwards a read-only request to `upstreamPath` and passes the answer through. */
export async function handleReadOnly(
  c: Context<ProxyEnv>,
  route: ReadOnlyRoute,
  upstreamPath: string,
  deps: Deps,
): Promise<Response> {
  // A database that cannot be read fails the request in the route's shape (as it always did),
  // rather than routing by a box list that may be stale.
  await deps.settings.get().catch((err) => {
    throw databaseUnavailable(deps, err);
  });
  const models = c.get("apiKey").policy.models;
  const method = c.req.method;
  let body: BodyInit | undefined;
  if (method === "POST") {
    body = await c.req.arrayBuffer();
    if (route.model === "body" && models !== null) body = JSON.stringify(showBody(body, models));
  }
  if (route.model === "path" && models !== null) {
    const model = c.req.param("model") ?? "";
    // As Ollama answers a model it does not have: the key's world has no such model.
    if (!modelAllowed(models, model)) {
      throw new ProxyError(404, `model '${model}' not found`, "model_not_found");
    }
  }
  const upstream = await readUpstream(c, route, upstreamPath, body, deps);
  const headers = clientHeaders(upstream.headers);
  if (!upstream.ok) {
    // Ollama's errors are small JSON, passed on as they are; a plain-text one (gin's 404 of an
    // Ollama older than the route) is put in the route's error shape, as errors always are.
    const bytes = new Uint8Array(await upstream.arrayBuffer());
    const wrapped = nonJsonError(upstream.status, upstreamPath, bytes, route.upstream);
    if (wrapped !== null) throw new ProxyError(upstream.status, wrapped, "upstream_error");
    return new Response(method === "HEAD" ? null : bytes, { status: upstream.status, headers });
  }
  if (route.listing && models !== null && upstream.ok) {
    const listing = await upstream.json().catch(() => null) as Json | null;
    if (listing !== null) {
      const entries = listing[route.listing.entries];
      const name = route.listing.name;
      if (Array.isArray(entries)) {
        listing[route.listing.entries] = entries.filter((e) =>
          typeof (e as Json)?.[name] === "string" &&
          modelAllowed(models, (e as Json)[name] as string)
        );
      }
      return new Response(method === "HEAD" ? null : JSON.stringify(listing), {
        status: upstream.status,
        headers,
      });
    }
  }
  return new Response(method === "HEAD" ? null : upstream.body, {
    status: upstream.status,
    headers,
  });
}

/**
 * The /api/show body as Ollama reads it (case variants folded), refused when its model is not
 * the key's; the canonical form is forwarded, so the model checked is the model shown.
 */
function showBody(raw: ArrayBuffer, models: ReadonlyArray<string>): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new ProxyError(400, "Cannot parse request body: expected JSON", "invalid_json");
  }
  const body = canonical(parsed, SHOW_REQUEST) as Json;
  const model = typeof body?.model === "string" && body.model !== ""
    ? body.model
    : typeof body?.name === "string"
    ? body.name
    : "";
  if (!modelAllowed(models, model)) throw modelNotAllowed(model);
  return body;
}
