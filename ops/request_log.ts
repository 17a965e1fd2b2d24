/**
 * One log line and one set of metric updates per request, on both listeners. The request id
 * (the client's X-Request-Id, else a new one) is returned in the response. A streamed answer is
 * logged when it ends, not when its headers leave. Never logged: keys, hashes, passwords, bodies;
 * a key a client put into the path shows as `sk-***`.
 * @module
 */
import { COLD_LOAD_MS } from "../core/analytics/rollup.ts";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import type { Deps } from "../deps.ts";
import { redactPath } from "../core/redact.ts";
import type { ApiKey } from "../core/model.ts";
import { type GatewayMetrics, metricsOf } from "./gateway_metrics.ts";
import { requestIdFrom, RequestRecord, type RequestVariables } from "./request_record.ts";

/** Which listener served a request. */
export type Listener = "proxy" | "admin";

/** Routes polled by machines (and the clients' heartbeat); successes are logged at debug only. */
const QUIET_ROUTES = new Set(["/", "/healthz", "/readyz", "/metrics", "/static/:name"]);

/**
 * The route pattern that answered (`/v1/models/:model`, not the path), so metric labels stay
 * bounded; `other` when no endpoint matched. Middleware (two parameters) is skipped, so a 401
 * from the key check still names the endpoint that was asked for.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  const current = routes[c.req.routeIndex];
  if (current && current.handler.length < 2) return current.path;
  for (let i = routes.length - 1; i >= 0; i--) {
    if (routes[i].handler.length < 2) return routes[i].path;
  }
  return "other";
}

type TrackEnv = { Variables: RequestVariables & { apiKey?: ApiKey } };

/** Tracks each request of a listener: id header, log line and metrics at its end. */
export function trackRequests(deps: Deps, listener: Listener) {
  const metrics = metricsOf(deps);
  const inFlight = metrics.streamsInFlight.labels();
  return createMiddleware<TrackEnv>(async function trackRequests(c, next) {
    const record = new RequestRecord(requestIdFrom(c.req.header("x-request-id")));
    c.set("request", record);
    await next();
    try {
      // On the response itself: Hono's c.header() would copy the whole Response to change it.
      c.res.headers.set("x-request-id", record.id);
    } catch {
      c.header("x-request-id", record.id); // immutable headers (a fetch response passed on)
    }
    // Runs inside the settlement of a stream: a failure here must never cost the usage record.
    const end = () => {
      try {
        finish(deps, metrics, listener, c, record);
      } catch (err) {
        deps.log.error("cannot log request", { error: (err as Error).message });
      }
    };
    if (!record.pending) return end();
    // A stream still runs: it is counted in flight and logged once it is settled.
    inFlight.inc();
    record.whenSettled(() => {
      inFlight.dec();
      end();
    });
  });
}

function ms(from: number, to: number): number | undefined {
  return from >= 0 && to >= 0 ? Math.round(to - from) : undefined;
}

function finish(
  deps: Deps,
  metrics: GatewayMetrics,
  listener: Listener,
  c: Context<TrackEnv>,
  r: RequestRecord,
): void {
  const endMs = r.settledMs >= 0 ? r.settledMs : performance.now();
  const status = r.settledStatus || c.res.status;
  const route = routeLabel(c);
  const key = c.get("apiKey");
  const keyLabel = metrics.keyLabel(key?.name);

  metrics.requests.labels(listener, route, String(status), ...keyLabel).inc();
  if (r.quotaLimit) metrics.quotaRejections.labels(r.quotaLimit, ...keyLabel).inc();
  if (r.upstream !== null && r.loadMs !== null && r.loadMs > COLD_LOAD_MS) {
    metrics.coldLoads.labels(r.upstream).inc();
  }
  if (r.charged) {
    metrics.tokens.labels(route, "in", ...keyLabel).inc(r.promptTokens);
    metrics.tokens.labels(route, "out", ...keyLabel).inc(r.completionTokens);
  }
  if (r.answeredMs >= 0 && r.forwardedMs >= 0) {
    metrics.upstreamTtfb.labels(route).observe((r.answeredMs - r.forwardedMs) / 1000);
    if (r.upstream !== null) {
      metrics.boxTtfb.labels(r.upstream).observe((r.answeredMs - r.forwardedMs) / 1000);
    }
    // A client that left cut the answer short: its time says nothing about Ollama.
    if (status !== 499) {
      metrics.upstreamDuration.labels(route).observe((endMs - r.forwardedMs) / 1000);
    }
  }

  const fields: Record<string, unknown> = {
    request_id: r.id,
    listener,
    method: c.req.method,
    route: redactPath(c.req.path),
    status,
  };
  if (key) fields.key_prefix = key.prefix;
  if (r.model !== null) fields.model = r.model;
  if (r.upstream !== null) fields.upstream = r.upstream;
  if (r.settledMs >= 0) {
    fields.prompt_tokens = r.promptTokens;
    fields.completion_tokens = r.completionTokens;
    fields.estimated = r.estimated;
    fields.charged = r.charged;
  }
  if (r.quotaLimit) fields.limit = r.quotaLimit;
  const code = (c.error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") fields.error = code;
  fields.duration_ms = Math.round(endMs - r.startedMs);
  const ttfb = ms(r.startedMs, r.answeredMs);
  if (ttfb !== undefined) fields.ttfb_ms = ttfb;

  if (status >= 500) deps.log.warn("request", fields);
  else if (status < 400 && QUIET_ROUTES.has(route)) deps.log.debug("request", fields);
  else deps.log.info("request", fields);
}
