/**
 * An inference request from admission to settlement: check the quota, cap generation, forward,
 * stream back, count tokens, release the reservation.
 * @module
 */
import type { Context } from "hono";
import type { Deps } from "../core/deps.ts";
import {
  type Ask,
  decideAdmission,
  hasTokenLimit,
  tokensLeft,
  type WindowUsage,
} from "../core/quota.ts";
import { estimatePromptTokens, estimateTokens, promptTokensBound } from "../core/tokens.ts";
import { windowsAt } from "../core/windows.ts";
import { GatewayStopping } from "../core/inflight.ts";
import type { ApiKey, Settlement } from "../db/store.ts";
import { databaseUnavailable, type ProxyEnv, refuseUnusableKey } from "./auth.ts";
import { ProxyError } from "./errors.ts";
import { quotaExceeded } from "./quota_errors.ts";
import { setRateLimitHeaders } from "./ratelimit_headers.ts";
import { readInferenceBody } from "./request_body.ts";
import type { InferenceRoute } from "./routes.ts";
import { meterFor } from "./stream_meter.ts";
import { meteredStream } from "./metered_stream.ts";
import { clientHeaders, upstreamHeaders } from "./upstream.ts";
import { completionTextOf, settleTokens, type Tokens, usageOfBody } from "./usage.ts";

type Body = Record<string, unknown>;

/** The client's own generation limit, when it set a positive one. */
function clientMaxTokens(body: Body, route: InferenceRoute): number | null {
  const values: unknown[] = route.maxField === "num_predict"
    ? [(body.options as Body | null | undefined)?.num_predict]
    : route.maxField === "max_output_tokens"
    ? [body.max_output_tokens]
    : [body.max_tokens, body.max_completion_tokens];
  const positive = values.filter((v): v is number => typeof v === "number" && v > 0);
  return positive.length ? Math.min(...positive) : null;
}

/** Writes the generation cap where Ollama reads it for this route. */
function applyGenerationCap(body: Body, route: InferenceRoute, cap: number): void {
  if (route.maxField === "num_predict") {
    body.options = { ...(body.options as Body | null | undefined ?? {}), num_predict: cap };
  } else if (route.maxField !== null) {
    body[route.maxField] = cap;
  }
}

/** Asks Ollama for streamed usage; returns true when the client did not ask and it must be stripped. */
function requestStreamUsage(body: Body): boolean {
  const options = (body.stream_options ?? {}) as Body;
  if (options.include_usage === true) return false;
  body.stream_options = { ...options, include_usage: true };
  return true;
}

/** Handles one inference request on `route`. */
export async function handleInference(
  c: Context<ProxyEnv>,
  route: InferenceRoute,
  deps: Deps,
): Promise<Response> {
  const startedMs = performance.now();
  const key = c.get("apiKey");
  const body = await readInferenceBody(c.req.raw, route.path);
  const settings = await deps.settings.get().catch((err) => {
    throw databaseUnavailable(deps, err);
  });
  if (typeof body.model !== "string" || body.model.trim() === "") {
    body.model = settings.default_model;
  }
  const model = body.model as string;
  const record = c.get("request");
  record.model = model;
  const stream = route.streamsByDefault ? body.stream !== false : body.stream === true;

  let promptEstimate: number | null = null;
  const estimatePrompt = () => promptEstimate ??= estimatePromptTokens(body);
  let promptBound: number | null = null;
  const boundPrompt = () => promptBound ??= promptTokensBound(body);
  // Linear in the prompt's length: done here, outside the admission's lock, for a key that has
  // a token limit as authenticated (a limit added since is bounded inside, rarely).
  if (hasTokenLimit(key)) boundPrompt();
  const clientMax = clientMaxTokens(body, route);
  const askOf = (fresh: ApiKey, usage: WindowUsage): Ask => {
    const ask: Ask = {
      promptTokens: 0,
      generates: route.generates,
      clientMaxTokens: clientMax,
      maxReservedTokens: deps.config.maxReservedTokens,
    };
    const left = tokensLeft(fresh, usage);
    if (left === null) return ask;
    // Far from the limit, the prompt's upper bound decides the same way as the estimate (admit,
    // same generation cap) and reserves at least as much; so the tokenizer, whose cost is CPU
    // inside the admission's lock, runs only close to the limit.
    const bound = boundPrompt();
    const generation = route.generates ? clientMax ?? ask.maxReservedTokens : 0;
    ask.promptTokens = left - bound >= generation + 1 ? bound : estimatePrompt();
    return ask;
  };

  const now = deps.clock.now();
  const windows = windowsAt(now, deps.config.timeZone);
  const admission = await deps.store.admit(
    {
      keyId: key.id,
      windows,
      route: route.path,
      model,
      startedAt: new Date(now.epochMilliseconds).toISOString(),
    },
    // The key as read inside the transaction decides: authentication may have used a cached
    // copy, so a key deactivated or expired since is refused here and nothing is recorded.
    (fresh, usage) => {
      refuseUnusableKey(fresh, now);
      return decideAdmission(fresh, usage, askOf(fresh, usage));
    },
  ).catch((err) => {
    if (err instanceof ProxyError) throw err;
    throw databaseUnavailable(deps, err);
  });
  if (!admission) throw new ProxyError(401, "Invalid API key", "invalid_api_key");
  const { decision } = admission;
  const quotaHeaders = new Headers();
  setRateLimitHeaders(quotaHeaders, decision.quota, windows, now);
  if (!decision.ok) {
    record.quotaLimit = decision.limit;
    throw quotaExceeded(
      decision.limit,
      decision.limitValue,
      windows,
      now,
      deps.config.timeZone,
      quotaHeaders,
    );
  }

  if (decision.generationCap !== null) applyGenerationCap(body, route, decision.generationCap);
  const strip = stream && route.usageOption ? requestStreamUsage(body) : false;

  // Until the response is handed to Deno, an aborted request signal means the client left.
  // Afterwards the stream's cancel() tells: under Deno's legacy semantics the signal also fires
  // on normal completion (deno.json opts out with "no-legacy-abort", which also saves creating
  // an AbortError per request; the code is right under both).
  const upstreamAbort = new AbortController();
  const unregister = deps.inflight.add(() => upstreamAbort.abort(new GatewayStopping()));

  record.expectSettlement();
  let settled = false;
  const settle = (status: number, charged: boolean, tokens: Tokens) => {
    if (settled) return Promise.resolve();
    settled = true;
    unregister();
    const s: Settlement = {
      requestId: admission.requestId!,
      keyId: key.id,
      day: windows.day,
      reservation: decision.reservation,
      charged,
      promptTokens: tokens.prompt,
      completionTokens: tokens.completion,
      estimated: tokens.estimated,
      status,
      durationMs: Math.round(performance.now() - startedMs),
    };
    // Ends the request's log line and metrics (for a stream, this is when it ends).
    record.settle(status, s.promptTokens, s.completionTokens, s.estimated, charged);
    return deps.store.settle(s).catch((err) =>
      deps.log.error("cannot record usage", { error: (err as Error).message, key: key.prefix })
    );
  };
  const nothing: Tokens = { prompt: 0, completion: 0, estimated: false };

  let handedOver = false;
  const onClientGone = () => {
    if (!handedOver) upstreamAbort.abort();
  };
  c.req.raw.signal.addEventListener("abort", onClientGone, { once: true });

  const headers = upstreamHeaders(c.req.raw.headers);
  headers.set("content-type", "application/json");
  let upstream: Response;
  // Model loading can take minutes, so the wait for response headers is long but bounded.
  const headerTimer = setTimeout(
    () => upstreamAbort.abort(new UpstreamTimeout()),
    deps.config.upstreamConnectTimeoutMs,
  );
  record.forwarding();
  try {
    upstream = await fetch(settings.ollama_url + route.path, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: upstreamAbort.signal,
    });
    record.upstreamAnswered();
  } catch (err) {
    const failure = upstreamFailure(upstreamAbort.signal, err as Error);
    await settle(failure.status, false, nothing);
    if (failure.status === 499) return new Response(null, { status: 499 });
    deps.log.warn("upstream request failed", {
      status: failure.status,
      error: (err as Error).message,
    });
    throw new ProxyError(
      failure.status,
      failure.message,
      failure.code,
      Object.fromEntries(quotaHeaders),
    );
  } finally {
    clearTimeout(headerTimer);
  }

  const responseHeaders = clientHeaders(upstream.headers);
  for (const [name, value] of quotaHeaders) responseHeaders.set(name, value);
  const contentType = upstream.headers.get("content-type") ?? "";
  const streamed = upstream.ok &&
    (contentType.includes("ndjson") || contentType.includes("event-stream"));

  if (!streamed) {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(await upstream.arrayBuffer());
    } catch {
      await settle(upstreamAbort.signal.aborted ? 499 : 502, false, nothing);
      return new Response(null, { status: 499 });
    }
    if (!upstream.ok) {
      // An error before any output: the request unit and reservation are given back.
      await settle(upstream.status, false, nothing);
    } else {
      let json: unknown = null;
      try {
        json = JSON.parse(new TextDecoder().decode(bytes));
      } catch { /* counted by estimate below */ }
      const reported = usageOfBody(json);
      if (!route.generates) reported.completionTokens ??= 0;
      await settle(
        upstream.status,
        true,
        settleTokens(reported, estimatePrompt, () => estimateTokens(completionTextOf(json))),
      );
    }
    handedOver = true;
    return new Response(bytes, { status: upstream.status, headers: responseHeaders });
  }

  const meter = meterFor(route, contentType, strip);
  const finish = (status: number) => {
    const partial = status !== 200;
    const tokens = settleTokens(meter.usage, estimatePrompt, () => meter.chunks);
    if (partial && !meter.usage) tokens.estimated = true;
    if (tokens.invalid) {
      deps.log.warn("Ollama reported unusable token counts; estimated instead", {
        fields: tokens.invalid.join(","),
        key: key.prefix,
      });
    }
    return settle(status, meter.usage !== null || meter.chunks > 0, tokens);
  };
  handedOver = true;
  return new Response(
    meteredStream(upstream.body!, {
      meter,
      signal: upstreamAbort.signal,
      ended: finish,
      clientLeft: () => {
        upstreamAbort.abort();
        return finish(499);
      },
    }),
    { status: upstream.status, headers: responseHeaders },
  );
}

/** Raised when Ollama sends no response headers within UPSTREAM_CONNECT_TIMEOUT. */
class UpstreamTimeout extends Error {}

/** Maps why the upstream request failed before any answer to the status the client gets. */
function upstreamFailure(signal: AbortSignal, err: Error) {
  const reason = signal.aborted ? signal.reason : null;
  if (reason instanceof UpstreamTimeout) {
    return {
      status: 504,
      code: "upstream_timeout",
      message: "Ollama sent no answer within UPSTREAM_CONNECT_TIMEOUT (is a model still loading?)",
    };
  }
  if (reason instanceof GatewayStopping) {
    return { status: 503, code: "shutting_down", message: "The gateway is shutting down; retry" };
  }
  if (signal.aborted) return { status: 499, code: "client_closed", message: "client left" };
  return {
    status: 502,
    code: "upstream_unavailable",
    message: `Cannot reach Ollama: the upstream server did not answer (${err.name})`,
  };
}
