/**
 * Relaying Ollama's answer to the client: a buffered relay for answers read whole (errors and
 * `stream:false`), a streamed relay that meters every chunk as it passes. Both settle the
 * request's ticket with what they saw (core/settlement.ts says what it costs).
 * @module
 */
import { GatewayStopping } from "../core/inflight.ts";
import { ProxyError } from "./errors.ts";
import type { InferenceRequest } from "./inference_request.ts";
import { meteredStream } from "./metered_stream.ts";
import { meterFor } from "./stream_meter.ts";
import type { SettlementTicket } from "./ticket.ts";
import { clientHeaders, type HeaderList, nonJsonError } from "./upstream.ts";
import { completionTextOf, usageOfBody } from "./usage.ts";

/** Decodes whole answers (no state kept between calls). */
const UTF8 = new TextDecoder();

/** Whether an upstream response is a stream to meter as it passes. */
export function isStreamed(upstream: Response): boolean {
  const type = upstream.headers.get("content-type") ?? "";
  return upstream.ok && (type.includes("ndjson") || type.includes("event-stream"));
}

/**
 * The headers for the client: Ollama's, minus hop-by-hop ones, plus the quota headers as of
 * now (the charge's once settled, else the reservation's).
 */
function responseHeaders(upstream: Response, ticket: SettlementTicket): HeaderList {
  return clientHeaders(upstream.headers, ticket.quotaHeaders());
}

/** Reads a whole answer, settles the ticket, and answers the client with it. */
export async function bufferedRelay(
  upstream: Response,
  request: InferenceRequest,
  ticket: SettlementTicket,
): Promise<Response> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(await upstream.arrayBuffer());
  } catch {
    const clientLeft = ticket.upstream.signal.aborted &&
      !(ticket.upstream.signal.reason instanceof GatewayStopping);
    // Ollama was answering: it worked on the prompt, so the unit stays and the prompt counts.
    await ticket.settle({
      kind: "no_answer",
      status: clientLeft ? 499 : 502,
      promptEvaluated: true,
    });
    if (clientLeft) return new Response(null, { status: 499 });
    throw new ProxyError(
      502,
      "Ollama's answer broke off before it was complete",
      "upstream_incomplete",
      ticket.quotaHeaders(),
    );
  }
  if (!upstream.ok) {
    // 4xx (a bad request, an unknown model) and 503 (busy) come before any work; other 5xx
    // (a model that failed to load) kept the box busy: the request unit stays taken.
    const refused = upstream.status < 500 || upstream.status === 503;
    // A buffered answer goes out whole as soon as it is settled: its first byte is now.
    ticket.firstByte();
    await ticket.settle(
      refused
        ? { kind: "refused_upstream", status: upstream.status }
        : { kind: "no_answer", status: upstream.status, promptEvaluated: false },
    );
    const wrapped = nonJsonError(upstream.status, request.route.path, bytes);
    if (wrapped !== null) {
      throw new ProxyError(
        upstream.status,
        wrapped,
        "upstream_error",
        ticket.quotaHeaders(),
      );
    }
    return new Response(bytes, {
      status: upstream.status,
      headers: responseHeaders(upstream, ticket),
    });
  }
  let json: unknown = null;
  try {
    json = JSON.parse(UTF8.decode(bytes));
  } catch { /* no usage to read: estimated below */ }
  const reported = usageOfBody(json);
  if (!request.route.generates) reported.completionTokens ??= 0;
  ticket.firstByte();
  await ticket.settle({
    kind: "answered",
    status: upstream.status,
    reported,
    producedOutput: request.route.generates,
  }, () => request.completionEstimate(completionTextOf(json)));
  return new Response(bytes, {
    status: upstream.status,
    headers: responseHeaders(upstream, ticket),
  });
}

/** Forwards a streamed answer chunk by chunk through its meter; settles when it ends. */
export function streamedRelay(
  upstream: Response,
  request: InferenceRequest,
  ticket: SettlementTicket,
  strip: boolean,
): Response {
  const meter = meterFor(request.route, upstream.headers.get("content-type") ?? "", strip);
  const finish = (status: number) =>
    ticket.settle({
      kind: "answered",
      status,
      reported: meter.usage,
      producedOutput: meter.chunks > 0 || meter.usage !== null,
    }, () => meter.chunks);
  return new Response(
    meteredStream(upstream.body!, {
      meter,
      signal: ticket.upstream.signal,
      firstByte: () => ticket.firstByte(),
      // 200 at its normal end; a stream Ollama ended with its own error, or one that was cut,
      // is an error whatever its HTTP status.
      ended: finish,
      clientLeft: () => {
        ticket.upstream.abort();
        return finish(499);
      },
    }),
    { status: upstream.status, headers: responseHeaders(upstream, ticket) },
  );
}
