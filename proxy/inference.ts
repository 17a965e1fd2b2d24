/**
 * One inference request, top to bottom: read and guard the body, admit it against the key's
 * limits, cap its generation, forward it to an Ollama box (proxy/forward.ts), relay the answer
 * and settle what it cost.
 * @module
 */
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import type { ProxyEnv } from "./auth.ts";
import { admitRequest } from "./admit.ts";
import { forward } from "./forward.ts";
import { readInferenceRequest } from "./inference_request.ts";
import { bufferedRelay, isStreamed, streamedRelay } from "./relay.ts";
import type { InferenceRoute } from "./routes.ts";
import { memberOfRequest } from "./identity.ts";
import { SettlementTicket } from "./ticket.ts";

type Body = Record<string, unknown>;

/** Handles one inference request on `route`. */
export async function handleInference(
  c: Context<ProxyEnv>,
  route: InferenceRoute,
  deps: Deps,
): Promise<Response> {
  const key = c.get("apiKey");
  const record = c.get("request");
  const request = await readInferenceRequest(c, route, key, deps);
  record.model = request.model;
  const member = await memberOfRequest(c, key, deps);
  const { requestId, decision, quota } = await admitRequest(
    deps,
    key,
    member,
    request,
    record,
  );

  if (decision.generationCap !== null) {
    route.generation?.write(request.body, decision.generationCap);
  }
  const strip = request.stream && route.usageOption ? askForStreamUsage(request.body) : false;

  const ticket = new SettlementTicket(
    deps,
    requestId,
    record,
    () => request.promptEstimate(),
    key.prefix,
    quota,
  );
  // Until the response is handed to Deno, an aborted request signal means the client left;
  // afterwards the stream's cancel() tells (deno.json opts out of Deno's legacy abort, under
  // which the signal also fires on normal completion).
  let handedOver = false;
  c.req.raw.signal.addEventListener("abort", () => {
    if (!handedOver) ticket.upstream.abort();
  }, { once: true });

  const identityHeaders = key.delegation ? Object.values(key.delegation.headers) : [];
  const upstream = await forward(
    request,
    ticket,
    deps,
    c.req.raw.headers,
    key.id,
    identityHeaders,
  );
  handedOver = true;
  if (!isStreamed(upstream)) return await bufferedRelay(upstream, request, ticket);
  return streamedRelay(upstream, request, ticket, strip);
}

/** Asks Ollama for streamed usage; true when the client did not ask and it must be stripped. */
function askForStreamUsage(body: Body): boolean {
  const options = (body.stream_options ?? {}) as Body;
  if (options.include_usage === true) return false;
  body.stream_options = { ...options, include_usage: true };
  return true;
}

export { ClientGone } from "./forward.ts";
