/**
 * One inference request, top to bottom: read and guard the body, admit it against the key's
 * limits, cap its generation, forward it to Ollama, relay the answer and settle what it cost.
 * @module
 */
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { GatewayStopping } from "../core/inflight.ts";
import type { ProxyEnv } from "./auth.ts";
import { admitRequest } from "./admit.ts";
import { ProxyError } from "./errors.ts";
import { type InferenceRequest, readInferenceRequest } from "./inference_request.ts";
import { bufferedRelay, isStreamed, streamedRelay } from "./relay.ts";
import type { InferenceRoute } from "./routes.ts";
import { memberOfRequest } from "./identity.ts";
import { SettlementTicket } from "./ticket.ts";
import { unreachableReason, upstreamHeaders } from "./upstream.ts";

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
  const { requestId, decision, quotaHeaders } = await admitRequest(
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
  );
  // Until the response is handed to Deno, an aborted request signal means the client left;
  // afterwards the stream's cancel() tells (deno.json opts out of Deno's legacy abort, under
  // which the signal also fires on normal completion).
  let handedOver = false;
  c.req.raw.signal.addEventListener("abort", () => {
    if (!handedOver) ticket.upstream.abort();
  }, { once: true });

  const identityHeaders = key.delegation ? Object.values(key.delegation.headers) : [];
  const headers = upstreamHeaders(c.req.raw.headers, identityHeaders);
  const upstream = await forward(request, ticket, deps, quotaHeaders, headers);
  handedOver = true;
  if (!isStreamed(upstream)) return await bufferedRelay(upstream, request, ticket, quotaHeaders);
  return streamedRelay(upstream, request, ticket, quotaHeaders, strip);
}

/** Asks Ollama for streamed usage; true when the client did not ask and it must be stripped. */
function askForStreamUsage(body: Body): boolean {
  const options = (body.stream_options ?? {}) as Body;
  if (options.include_usage === true) return false;
  body.stream_options = { ...options, include_usage: true };
  return true;
}

/** Raised when Ollama sends no response headers within UPSTREAM_CONNECT_TIMEOUT. */
class UpstreamTimeout extends Error {}

/**
 * Sends the request to Ollama and returns its response once its headers arrived; on failure
 * settles the ticket and throws the client's error (or answers 499 to a client that left).
 */
async function forward(
  request: InferenceRequest,
  ticket: SettlementTicket,
  deps: Deps,
  quotaHeaders: Headers,
  headers: Headers,
): Promise<Response> {
  headers.set("content-type", "application/json");
  const signal = ticket.upstream.signal;
  // Model loading can take minutes, so the wait for response headers is long but bounded.
  const headerTimer = setTimeout(
    () => ticket.upstream.abort(new UpstreamTimeout()),
    deps.config.upstreamConnectTimeoutMs,
  );
  ticket.record.forwarding();
  try {
    const upstream = await fetch(request.settings.ollama_url + request.route.path, {
      method: "POST",
      headers,
      body: JSON.stringify(request.body),
      signal,
    });
    ticket.record.upstreamAnswered();
    return upstream;
  } catch (err) {
    const reason = signal.aborted ? signal.reason : null;
    const extra = Object.fromEntries(quotaHeaders);
    if (reason instanceof UpstreamTimeout) {
      await ticket.settle({ kind: "no_answer", status: 504, promptEvaluated: true });
      throw new ProxyError(
        504,
        "Ollama sent no answer within UPSTREAM_CONNECT_TIMEOUT (is a model still loading?)",
        "upstream_timeout",
        extra,
      );
    }
    if (reason instanceof GatewayStopping) {
      await ticket.settle({ kind: "no_answer", status: 503, promptEvaluated: true });
      throw new ProxyError(503, "The gateway is shutting down; retry", "shutting_down", extra);
    }
    if (signal.aborted) {
      // The client left while Ollama worked on the prompt: that work is charged.
      await ticket.settle({ kind: "no_answer", status: 499, promptEvaluated: true });
      throw new ClientGone();
    }
    await ticket.settle({ kind: "not_sent", status: 502 });
    deps.log.warn("upstream request failed", { status: 502, error: (err as Error).message });
    throw new ProxyError(
      502,
      `Cannot reach Ollama: ${
        unreachableReason(err)
      }. Nothing was charged; if this persists, the gateway's admin should check that Ollama is running and the Ollama URL in Settings`,
      "upstream_unavailable",
      extra,
    );
  } finally {
    clearTimeout(headerTimer);
  }
}

/** The client left before Ollama answered: the response goes nowhere (499 in the log). */
export class ClientGone extends ProxyError {
  constructor() {
    super(499, "client left", "client_closed");
  }
}
