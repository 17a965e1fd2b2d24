/**
 * Where a read-only request goes. One box: to it, as always. Several: a model listing
 * (`/api/tags`, `/v1/models`, `/api/ps`) is asked of every box that is not ejected and answered
 * with their union (core/upstreams/listings.ts), a box that does not answer left out rather than
 * failing the listing; any other read goes to the first box that answers, those that list the
 * model it is about first.
 * @module
 */
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { mergeListings } from "../core/upstreams/listings.ts";
import type { UpstreamConfig } from "../core/upstreams/types.ts";
import { upstreamsOf } from "../ops/upstreams.ts";
import type { ProxyEnv } from "./auth.ts";
import { ProxyError } from "./errors.ts";
import type { ReadOnlyRoute } from "./routes.ts";
import { unreachableReason, upstreamHeaders, withToken } from "./upstream.ts";

/** What a key holder can do about an Ollama the gateway cannot reach. */
const ADMIN_HINT =
  "If this persists, the gateway's admin should check that Ollama is running and its URL (Settings, or the Ollama boxes page)";

/** How long one box may take to answer a read when others could answer instead (ms). */
export const READ_TIMEOUT_MS = 10_000;

/** Ollama's answer to a read-only request (merged over the boxes for a listing). */
export async function readUpstream(
  c: Context<ProxyEnv>,
  route: ReadOnlyRoute,
  path: string,
  body: BodyInit | undefined,
  deps: Deps,
): Promise<Response> {
  const pool = upstreamsOf(deps);
  await pool.sync();
  const method = c.req.method;
  const headers = upstreamHeaders(c.req.raw.headers);
  const signal = c.req.raw.signal;
  if (!pool.routing) {
    const [box] = pool.readTargets(null);
    if (!box || !box.enabled) {
      throw new ProxyError(
        502,
        "Cannot reach Ollama: no Ollama box is configured (or enabled). The gateway's admin should add or enable one on the Ollama boxes page",
        "upstream_unavailable",
      );
    }
    try {
      return await fetch(box.url + path, {
        method,
        headers: withToken(headers, box.token),
        body,
        signal,
      });
    } catch (err) {
      throw new ProxyError(
        502,
        `Cannot reach Ollama: ${unreachableReason(err)}. ${ADMIN_HINT}`,
        "upstream_unavailable",
      );
    }
  }
  // Within READ_TIMEOUT_MS `read` must be done with the box (its headers, or a whole listing).
  const within = async <T>(box: UpstreamConfig, m: string, read: (r: Response) => Promise<T>) => {
    const controller = new AbortController();
    const follow = () => controller.abort(signal.reason);
    signal.addEventListener("abort", follow, { once: true });
    const timer = setTimeout(() => controller.abort(), READ_TIMEOUT_MS);
    try {
      const res = await fetch(box.url + path, {
        method: m,
        headers: withToken(headers, box.token),
        body,
        signal: controller.signal,
      });
      return await read(res);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", follow);
    }
  };
  if (route.listing) {
    // A HEAD is answered from the merged GET (the caller leaves the body out).
    const answers = await Promise.all(
      pool.readTargets(null).map((box) =>
        within(box, "GET", async (res) => {
          if (!res.ok) {
            await res.body?.cancel();
            return null;
          }
          const json: unknown = await res.json();
          if (route.upstream === "/api/tags") pool.recordTags(box.id, json);
          return json;
        }).catch(() => null) // a box that does not answer is left out of the listing
      ),
    );
    const merged = mergeListings(answers.filter((a) => a !== null), route.listing);
    if (merged === null) {
      throw new ProxyError(
        502,
        `Cannot reach Ollama: no Ollama box answered. ${ADMIN_HINT}`,
        "upstream_unavailable",
      );
    }
    return Response.json(merged, {
      headers: { "content-type": "application/json; charset=utf-8" },
    });
  }
  const model = route.model === "path"
    ? c.req.param("model") ?? null
    : route.model === "body"
    ? modelOfShowBody(body)
    : null;
  let lastError: unknown = null;
  for (const box of pool.readTargets(model)) {
    try {
      // The answer streams to the client after its headers: the timeout covers the headers.
      return await within(box, method, (res) => Promise.resolve(res));
    } catch (err) {
      if (signal.aborted) throw err;
      lastError = err; // the next box may answer
    }
  }
  throw new ProxyError(
    502,
    `Cannot reach Ollama: ${unreachableReason(lastError)}. ${ADMIN_HINT}`,
    "upstream_unavailable",
  );
}

/** The model an /api/show body names (`model`, else `name`), for choosing the box; or null. */
function modelOfShowBody(body: BodyInit | undefined): string | null {
  let text: string;
  if (typeof body === "string") text = body;
  else if (body instanceof ArrayBuffer) text = new TextDecoder().decode(body);
  else return null;
  try {
    const parsed = JSON.parse(text) as Record<string, unknown> | null;
    const model = parsed?.model ?? parsed?.name;
    return typeof model === "string" && model !== "" ? model : null;
  } catch {
    return null; // Ollama answers a body it cannot read itself
  }
}
