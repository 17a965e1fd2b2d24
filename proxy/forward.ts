/**
 * Sending an admitted request to Ollama: the pool chooses a box (core/upstreams/pool.ts), and
 * until the first byte of an answer a failed attempt moves on to the next box
 * (core/upstreams/failover.ts: at most three attempts, the quota reservation kept). The slot of
 * the attempt whose answer is relayed is held until the request is settled (a stream holds its
 * box until it ends); every other attempt's slot is given back at once. When no answer is
 * relayed the ticket is settled here and the client's error thrown.
 *
 * With one box this is the gateway's old behaviour exactly: the box gets every request, and its
 * own errors reach the client as they are.
 * @module
 */
import type { Deps } from "../deps.ts";
import { fetchFailureDetail } from "../core/fetch_failure.ts";
import { DeadlineQueue } from "../core/deadlines.ts";
import { GatewayStopping } from "../core/inflight.ts";
import type { Outcome } from "../core/settlement.ts";
import {
  attemptCost,
  type AttemptEnd,
  judge,
  MAX_ATTEMPTS,
  needsBody,
} from "../core/upstreams/failover.ts";
import type { Placement, Want } from "../core/upstreams/pool.ts";
import type { UpstreamConfig, Verdict } from "../core/upstreams/types.ts";
import { upstreamsOf } from "../ops/upstreams.ts";
import { ProxyError } from "./errors.ts";
import type { InferenceRequest } from "./inference_request.ts";
import type { SettlementTicket } from "./ticket.ts";
import { type HeaderList, unreachableReason, upstreamHeaders, withToken } from "./upstream.ts";

type Body = Record<string, unknown>;

/** The body sent to Ollama is always the gateway's own JSON encoding of the request. */
const JSON_BODY = { "content-type": "application/json" } as const;

/** Raised when Ollama sends no response headers within UPSTREAM_CONNECT_TIMEOUT. */
class UpstreamTimeout extends Error {}

/** The attempts' header deadlines, one queue per timeout length (one per gateway in practice). */
const headerDeadlines = new Map<number, DeadlineQueue>();

function headerDeadlinesOf(ms: number): DeadlineQueue {
  let queue = headerDeadlines.get(ms);
  if (!queue) headerDeadlines.set(ms, queue = new DeadlineQueue(ms));
  return queue;
}

/** The client left before Ollama answered: the response goes nowhere (499 in the log). */
export class ClientGone extends ProxyError {
  constructor() {
    super(499, "client left", "client_closed");
  }
}

/** One attempt as it ended: the response when headers came, or why none did. */
type Tried =
  | { end: AttemptEnd & { kind: "response" }; response: Response }
  | { end: Exclude<AttemptEnd, { kind: "response" }>; error: unknown }
  | { gone: unknown };

/**
 * Sends the request to a box and returns the answer to relay once its headers arrived; on
 * failure settles the ticket and throws the client's error (or answers 499 to a client that
 * left).
 */
export async function forward(
  request: InferenceRequest,
  ticket: SettlementTicket,
  deps: Deps,
  incoming: Headers,
  keyId: number,
  /** Identity headers of a delegating key, never forwarded (besides X-OpenWebUI-*). */
  identityHeaders: ReadonlyArray<string> = [],
): Promise<Response> {
  const pool = upstreamsOf(deps);
  const headers = upstreamHeaders(incoming, identityHeaders, JSON_BODY);
  const body = JSON.stringify(request.body);
  const want: Want = {
    model: request.model,
    numCtx: numCtxOf(request),
    key: String(keyId),
    conversation: conversationOf(incoming),
    signal: ticket.upstream.signal,
  };
  const tried = new Set<string>();
  // The most a failed attempt may have cost (failover.ts attemptCost), and the costliest error
  // answer so far: what the client gets when no box answers.
  let cost = 0;
  let held: { response: Response; cost: number; upstream: string } | null = null;
  let lastError: unknown = null;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const placement = await pool.acquire({ ...want, exclude: tried, retry: attempt > 0 });
    if (placement.kind === "aborted") {
      await held?.response.body?.cancel();
      return await gone(ticket, placement.reason, cost);
    }
    if (placement.kind !== "leased") {
      if (attempt === 0) throw await refused(placement, request, ticket);
      break;
    }
    const lease = placement.lease;
    tried.add(lease.upstream.id);
    if (attempt === 0) ticket.record.forwarding();
    let verdict: Verdict = "neutral";
    let handedOver = false;
    try {
      const outcome = await attemptOn(lease.upstream, request, headers, body, ticket, deps);
      if ("gone" in outcome) {
        // The client left (or the gateway stops) while Ollama worked on the prompt: charged.
        await held?.response.body?.cancel();
        return await gone(ticket, outcome.gone, 2);
      }
      let end: AttemptEnd = outcome.end;
      let response = "response" in outcome ? outcome.response : null;
      if (response && pool.routing && needsBody(response.status)) {
        // Read to tell "server busy" and "model not found" from other answers (both small).
        const bytes = await response.arrayBuffer().catch(() => null);
        if (bytes === null) {
          if (ticket.upstream.signal.aborted) {
            return await gone(ticket, ticket.upstream.signal.reason, 2);
          }
          end = { kind: "unreachable" };
          response = null;
        } else {
          end = { ...end, text: new TextDecoder().decode(bytes) } as AttemptEnd;
          response = new Response(bytes, {
            status: response.status,
            statusText: response.statusText,
            headers: response.headers,
          });
        }
      }
      const judged = judge(end, lease.listed);
      verdict = judged.verdict;
      if (response && !judged.retry) {
        handedOver = true;
        const atHeaders = verdict;
        ticket.onSettled((o) => lease.release(finalVerdict(atHeaders, o)));
        ticket.record.upstreamAnswered(lease.upstream.name);
        await held?.response.body?.cancel();
        return response;
      }
      const thisCost = attemptCost(end);
      cost = Math.max(cost, thisCost);
      if (response) {
        if (held === null || thisCost >= held.cost) {
          await held?.response.body?.cancel();
          held = { response, cost: thisCost, upstream: lease.upstream.name };
        } else {
          await response.body?.cancel();
        }
      } else {
        lastError = "error" in outcome ? outcome.error : null;
      }
      if (pool.routing) {
        deps.log.warn("Ollama box failed before answering; trying another", {
          upstream: lease.upstream.name,
          attempt: attempt + 1,
          verdict,
          status: response?.status ?? end.kind,
        });
      }
    } finally {
      if (!handedOver) lease.release(verdict);
    }
  }
  if (cost === 2) {
    await held?.response.body?.cancel();
    await ticket.settle({ kind: "no_answer", status: 504, promptEvaluated: true });
    throw new ProxyError(
      504,
      "Ollama sent no answer within UPSTREAM_CONNECT_TIMEOUT (is a model still loading?)",
      "upstream_timeout",
      ticket.quotaHeaders(),
    );
  }
  if (held) {
    // The box's own error, for the relay to pass on and settle by its status.
    ticket.record.upstreamAnswered(held.upstream);
    return held.response;
  }
  await ticket.settle({ kind: "not_sent", status: 502 });
  deps.log.warn("upstream request failed", {
    status: 502,
    error: lastError === null ? "no box to try" : fetchFailureDetail(lastError),
  });
  throw new ProxyError(
    502,
    `Cannot reach Ollama: ${
      unreachableReason(lastError)
    }. Nothing was charged; if this persists, the gateway's admin should check that Ollama is running and its URL (Settings, or the Ollama boxes page)`,
    "upstream_unavailable",
    ticket.quotaHeaders(),
  );
}

/** One attempt on `upstream`: its response once headers came, or why none came. */
async function attemptOn(
  upstream: UpstreamConfig,
  request: InferenceRequest,
  baseHeaders: HeaderList,
  body: string,
  ticket: SettlementTicket,
  deps: Deps,
): Promise<Tried> {
  const signal = ticket.upstream.signal;
  // Each attempt has its own signal: its timeout must not end the request, while the client
  // leaving (or shutdown) ends whichever attempt runs, and the answer's body after it.
  const controller = new AbortController();
  const follow = () => controller.abort(signal.reason);
  signal.addEventListener("abort", follow, { once: true });
  if (signal.aborted) follow();
  // Model loading can take minutes, so the wait for response headers is long but bounded.
  const deadlines = headerDeadlinesOf(deps.config.upstreamConnectTimeoutMs);
  const headerDeadline = deadlines.start(() => controller.abort(new UpstreamTimeout()));
  try {
    const response = await fetch(upstream.url + request.route.path, {
      method: "POST",
      headers: withToken(baseHeaders, upstream.token),
      body,
      signal: controller.signal,
    });
    return { end: { kind: "response", status: response.status, text: null }, response };
  } catch (err) {
    signal.removeEventListener("abort", follow);
    if (signal.aborted) return { gone: signal.reason };
    if (controller.signal.reason instanceof UpstreamTimeout) {
      return { end: { kind: "timeout" }, error: err };
    }
    return { end: { kind: "unreachable" }, error: err };
  } finally {
    deadlines.cancel(headerDeadline);
  }
}

/** The verdict on the box once the relayed answer is settled: a cut stream is a failure. */
function finalVerdict(atHeaders: Verdict, outcome: Outcome): Verdict {
  if (atHeaders !== "ok") return atHeaders;
  if (outcome.status === 200) return "ok";
  // The client left or the gateway stops: nothing learned about the box.
  if (outcome.status === 499 || outcome.status === 503) return "neutral";
  return "failed";
}

/** Settles a request whose client left (or whose gateway stops) and throws its error. */
async function gone(
  ticket: SettlementTicket,
  reason: unknown,
  cost: number,
): Promise<never> {
  const stopping = reason instanceof GatewayStopping;
  const status = stopping ? 503 : 499;
  await ticket.settle(
    cost === 0
      ? { kind: "not_sent", status }
      : { kind: "no_answer", status, promptEvaluated: cost === 2 },
  );
  if (stopping) {
    throw new ProxyError(
      503,
      "The gateway is shutting down; retry",
      "shutting_down",
      ticket.quotaHeaders(),
    );
  }
  throw new ClientGone();
}

/** Settles a request no box took and returns the client's error. */
async function refused(
  placement: Exclude<Placement, { kind: "leased" } | { kind: "aborted" }>,
  request: InferenceRequest,
  ticket: SettlementTicket,
): Promise<ProxyError> {
  const model = request.model;
  switch (placement.kind) {
    case "busy":
      await ticket.settle({ kind: "not_sent", status: 503 });
      return new ProxyError(
        503,
        placement.reason === "queue_full"
          ? `Every Ollama box that serves model '${model}' is busy and the gateway's queue is full; nothing was charged, retry in a few seconds`
          : `Every Ollama box that serves model '${model}' stayed busy while the request waited (QUEUE_TIMEOUT_SECONDS); nothing was charged, retry in a few seconds`,
        "all_upstreams_busy",
        { ...ticket.quotaHeaders(), "retry-after": String(placement.retryAfterSeconds) },
      );
    case "down":
      await ticket.settle({ kind: "not_sent", status: 503 });
      return new ProxyError(
        503,
        `Every Ollama box that serves model '${model}' is failing and out of rotation for now; nothing was charged, retry in ${placement.retryAfterSeconds} s`,
        "all_upstreams_down",
        { ...ticket.quotaHeaders(), "retry-after": String(placement.retryAfterSeconds) },
      );
    case "unknown_model":
      // In Ollama's own words: no box has the model.
      await ticket.settle({ kind: "not_sent", status: 404 });
      return new ProxyError(
        404,
        `model '${model}' not found`,
        "model_not_found",
        ticket.quotaHeaders(),
      );
    case "exhausted":
    case "no_upstreams":
      await ticket.settle({ kind: "not_sent", status: 502 });
      return new ProxyError(
        502,
        "Cannot reach Ollama: no Ollama box is configured (or enabled). Nothing was charged; the gateway's admin should add or enable one on the Ollama boxes page",
        "upstream_unavailable",
        ticket.quotaHeaders(),
      );
  }
}

/** The context the request runs with, when the gateway knows it (native routes). */
function numCtxOf(request: InferenceRequest): number | null {
  if (!request.route.native) return null;
  const ctx = (request.body.options as Body | null | undefined)?.num_ctx;
  return typeof ctx === "number" && ctx > 0 ? ctx : null;
}

/** The conversation a request belongs to: Open WebUI's chat id, else a client's session id. */
function conversationOf(headers: Headers): string | null {
  const id = headers.get("x-openwebui-chat-id") ?? headers.get("x-session-id");
  return id === null || id.trim() === "" ? null : id.trim();
}
