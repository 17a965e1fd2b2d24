/**
 * What a key holder may ask of the shared Ollama box. Per field the gateway passes, clamps or
 * refuses (README "What a key holder can and cannot do"):
 * - `keep_alive` longer than the server's maximum, or negative (forever), is clamped to it;
 *   `keep_alive: 0` (unload now, for everyone) becomes Ollama's default.
 * - `options.num_ctx` is set per model when the admin fixed one (so every client shares one
 *   loaded runner), else lowered to the server's and the key's maximum.
 * - Runner options that only change how a model is loaded (`num_gpu`, `main_gpu`, `num_batch`,
 *   `num_thread`, `use_mmap`, `numa`, `low_vram`) are removed: loading is the admin's business.
 * - `*-cloud` models, the `web_search` tool, `template` overrides and `_debug_render_only` are
 *   refused unless the admin allows them (the last always: it is a debugging switch).
 * @module
 */
import type { Settings } from "../core/settings.ts";
import type { Policy } from "../core/model.ts";
import { canonicalModel, isCloudModel } from "../core/model_names.ts";
import { ProxyError } from "./errors.ts";
import type { InferenceRoute } from "./routes.ts";

type Body = Record<string, unknown>;

/** Options that only change how the runner is loaded. */
const LOAD_OPTIONS = [
  "num_gpu",
  "main_gpu",
  "num_batch",
  "num_thread",
  "use_mmap",
  "numa",
  "low_vram",
];

const UNITS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  "µs": 1e-6,
  "μs": 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/**
 * A `keep_alive` in seconds as Ollama reads it (a number of seconds, or a Go duration such as
 * `"5m"` or `"1h30m"`); Infinity for a negative one (forever); null when Ollama would refuse it.
 */
export function keepAliveSeconds(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return v < 0 ? Infinity : v;
  if (typeof v !== "string") return null;
  const text = v.trim();
  if (text === "0") return 0;
  const match = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(text);
  if (!match) return null;
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    seconds += Number(n) * UNITS[unit];
  }
  return match[1] === "-" && seconds > 0 ? Infinity : seconds;
}

/** The value `num_ctx_by_model` fixes for `model`, if any. */
function fixedNumCtx(settings: Settings, model: string): number | null {
  const wanted = canonicalModel(model);
  for (const [name, ctx] of Object.entries(settings.num_ctx_by_model)) {
    if (canonicalModel(name) === wanted) return ctx;
  }
  return null;
}

/** Refuses what the admin has not allowed; throws a 403 (or 400) ProxyError. */
export function refuseForbidden(body: Body, route: InferenceRoute, settings: Settings): void {
  const model = String(body.model ?? "");
  if (!settings.allow_cloud_models && isCloudModel(model)) {
    throw new ProxyError(
      403,
      `Model ${
        JSON.stringify(model)
      } runs on ollama.com on the box owner's account; cloud models are disabled on this gateway`,
      "cloud_model_forbidden",
    );
  }
  if (!settings.allow_web_search && usesWebSearch(body, route)) {
    throw new ProxyError(
      403,
      "The web_search tool searches through ollama.com and is disabled on this gateway",
      "web_search_forbidden",
    );
  }
  if (body._debug_render_only === true) {
    throw new ProxyError(
      400,
      "_debug_render_only is not available through the gateway",
      "debug_render_forbidden",
    );
  }
  if (
    !settings.allow_template_override && typeof body.template === "string" && body.template !== ""
  ) {
    throw new ProxyError(
      403,
      "template overrides are disabled on this gateway (they change what is rendered into the prompt and so what it costs)",
      "template_forbidden",
    );
  }
}

/** Whether a Responses or Anthropic body asks Ollama to search the web for it. */
function usesWebSearch(body: Body, route: InferenceRoute): boolean {
  if (route.path !== "/v1/responses" && route.path !== "/v1/messages") return false;
  const anthropic = route.path === "/v1/messages";
  const search = (tools: unknown): boolean =>
    Array.isArray(tools) &&
    tools.some((t) => {
      const type = (t as Body | null)?.type;
      if (typeof type === "string") {
        if (anthropic ? type.startsWith("web_search") : type === "web_search") return true;
      }
      // A Responses `namespace` tool nests its member tools.
      return !anthropic && search((t as Body | null)?.tools);
    });
  return search(body.tools);
}

/**
 * Rewrites the fields of a native request that reach the runner (keep_alive, options), per the
 * server's settings and the key's policy. Returns the effective `num_ctx` when one is known.
 */
export function guardRunner(body: Body, settings: Settings, policy: Policy): number | null {
  if ("keep_alive" in body && body.keep_alive !== null) {
    const seconds = keepAliveSeconds(body.keep_alive);
    if (seconds === 0) delete body.keep_alive; // unloading for everyone: Ollama's default instead
    else if (seconds !== null && seconds > settings.keep_alive_max_seconds) {
      body.keep_alive = settings.keep_alive_max_seconds;
    }
  }
  const options = { ...(body.options as Body | null | undefined ?? {}) };
  for (const name of LOAD_OPTIONS) delete options[name];
  const ceilings = [settings.num_ctx_max, policy.max_num_ctx].filter((n) => n !== null);
  const fixed = fixedNumCtx(settings, String(body.model ?? ""));
  let numCtx: number | null = null;
  if (fixed !== null) {
    numCtx = Math.min(fixed, ...(policy.max_num_ctx !== null ? [policy.max_num_ctx] : []));
  } else if (typeof options.num_ctx === "number" && options.num_ctx > 0) {
    numCtx = Math.min(options.num_ctx, ...ceilings);
  } else if (policy.max_num_ctx !== null) {
    // The model's own default could be larger than the key may use.
    numCtx = policy.max_num_ctx;
  }
  if (numCtx !== null) options.num_ctx = numCtx;
  if (Object.keys(options).length > 0 || body.options !== undefined) body.options = options;
  return numCtx;
}
