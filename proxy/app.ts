/**
 * The proxy listener: Ollama's and OpenAI's routes behind API keys and quotas.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { type ProxyEnv, requireApiKey } from "./auth.ts";
import { limitBody } from "../core/body_limit.ts";
import { requireValidHost } from "../core/host_header.ts";
import { redactPath } from "../core/redact.ts";
import { cors } from "./cors.ts";
import { errorResponse, ProxyError } from "./errors.ts";
import { handleInference } from "./inference.ts";
import { handleReadOnly } from "./read_only.ts";
import { handleSelfService } from "./self_service.ts";
import { familyOf, INFERENCE_ROUTES, MANAGEMENT_PATHS, READ_ONLY_ROUTES } from "./routes.ts";
import { createHealthRoutes } from "../ops/health_routes.ts";
import { trackRequests } from "../ops/request_log.ts";

/** Builds the proxy app. */
export function createProxyApp(deps: Deps): Hono<ProxyEnv> {
  const app = new Hono<ProxyEnv>();

  app.onError((err, c) => {
    const family = familyOf(c.req.path);
    if (err instanceof ProxyError) return errorResponse(family, err);
    deps.log.error("unexpected error", { route: redactPath(c.req.path), error: err.message });
    return errorResponse(family, new ProxyError(500, "Internal gateway error", "internal_error"));
  });
  app.notFound((c) => {
    const route = `${c.req.method} ${redactPath(c.req.path)}`;
    throw new ProxyError(404, `Route ${route} not found`, "not_found");
  });

  // First, so the request id and the log line cover every answer, errors included.
  app.use(trackRequests(deps, "proxy"));
  app.use(requireValidHost((m) => new ProxyError(400, m, "invalid_host")));
  app.use(cors(deps.config.allowedOrigins));
  app.use(
    limitBody(deps.config.maxBodyBytes, (m) => new ProxyError(413, m, "request_too_large")),
  );

  // Heartbeat for clients (Ollama's CLI and libraries); no key needed.
  app.on(["GET", "HEAD"], "/", (c) => c.text("Ollama is running"));
  // Liveness and readiness for orchestrators; no key needed, no secrets shown.
  app.route("/", createHealthRoutes(deps));

  app.use(requireApiKey(deps));

  // "How much do I have left?": the key's own limits and usage (never quota).
  app.get("/v1/usage", (c) => handleSelfService(c, deps));
  app.get("/api/usage", (c) => handleSelfService(c, deps));

  for (const route of INFERENCE_ROUTES) {
    app.post(route.path, (c) => handleInference(c, route, deps));
  }
  for (const r of READ_ONLY_ROUTES) {
    const methods = r.method === "GET" ? ["GET", "HEAD"] : [r.method];
    app.on(methods, r.path, (c) => {
      const model = c.req.param("model") ?? "";
      // A decoded `%2F` or dot segment must not become another upstream path (`/api/pull`).
      if (/[/\\]/.test(model) || model === "." || model === "..") {
        throw new ProxyError(400, `Invalid model name: ${JSON.stringify(model)}`, "invalid_model");
      }
      const upstream = r.upstream.includes(":model")
        ? r.upstream.replace(":model", encodeURIComponent(model))
        : r.upstream;
      return handleReadOnly(c, r, upstream, deps);
    });
  }
  for (const path of MANAGEMENT_PATHS) {
    app.all(path, () => {
      throw new ProxyError(
        403,
        "Model management is not allowed through the gateway; ask an admin",
        "model_management_forbidden",
      );
    });
  }
  return app;
}
