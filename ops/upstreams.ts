/**
 * The gateway's Ollama boxes: the pool built from the `ollama_url` setting (one URL, or several
 * separated by commas), with metrics per box, and its prober. Phase 1: the boxes come from the
 * setting; a table of boxes plugs in as another `source` for the pool.
 * @module
 */
import type { Deps } from "../deps.ts";
import { UpstreamPool } from "../core/upstreams/pool.ts";
import { upstreamsFromSetting } from "../core/upstreams/setting.ts";
import { metricsOf } from "./gateway_metrics.ts";
import { upstreamMetrics } from "./upstream_metrics.ts";
import { UpstreamProber } from "./upstream_prober.ts";

/** The pool of the gateway, created in `deps` on first use. */
export function upstreamsOf(deps: Deps): UpstreamPool {
  return deps.upstreams ??= new UpstreamPool({
    source: () => deps.settings.get().then((s) => upstreamsFromSetting(s.ollama_url)),
    queueMax: deps.config.queueMax,
    queueTimeoutMs: deps.config.queueTimeoutMs,
    observer: upstreamMetrics(metricsOf(deps)),
    onError: (err) =>
      deps.log.warn("upstream pool: working around a failure", {
        error: (err as Error)?.message ?? String(err),
      }),
  });
}

/** Starts probing the gateway's boxes; returns the function that stops it. */
export function startUpstreamProbes(deps: Deps): () => Promise<void> {
  const prober = new UpstreamProber(upstreamsOf(deps));
  prober.start();
  return () => prober.stop();
}
