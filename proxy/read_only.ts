/**
 * Read-only Ollama routes (model lists, version, show): a key is needed, no quota is used.
 * @module
 */
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { databaseUnavailable, type ProxyEnv } from "./auth.ts";
import { ProxyError } from "./errors.ts";
import { clientHeaders, upstreamHeaders } from "./upstream.ts";

/** Forwards a read-only request to `upstreamPath` and passes the answer through. */
export async function handleReadOnly(
  c: Context<ProxyEnv>,
  upstreamPath: string,
  deps: Deps,
): Promise<Response> {
  const settings = await deps.settings.get().catch((err) => {
    throw databaseUnavailable(deps, err);
  });
  const method = c.req.method;
  const hasBody = method === "POST";
  const headers = upstreamHeaders(c.req.raw.headers);
  let upstream: Response;
  try {
    upstream = await fetch(settings.ollama_url + upstreamPath, {
      method,
      headers,
      body: hasBody ? await c.req.arrayBuffer() : undefined,
      signal: c.req.raw.signal,
    });
  } catch {
    throw new ProxyError(
      502,
      "Cannot reach Ollama: the upstream server did not answer",
      "upstream_unavailable",
    );
  }
  return new Response(method === "HEAD" ? null : upstream.body, {
    status: upstream.status,
    headers: clientHeaders(upstream.headers),
  });
}
