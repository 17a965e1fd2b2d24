/**
 * What both listeners are built from. The composition root (main.ts) builds it; tests pass
 * their own clock and store.
 * @module
 */
import type { Config } from "./core/config.ts";
import type { Clock } from "./core/clock.ts";
import type { Logger } from "./core/log.ts";
import type { SettingsCache } from "./core/settings.ts";
import type { Store } from "./core/store.ts";
import type { InFlight } from "./core/inflight.ts";
import type { GatewayMetrics } from "./ops/gateway_metrics.ts";
import type { UpstreamPool } from "./core/upstreams/pool.ts";
import type { UpstreamTable } from "./ops/upstream_table.ts";

/** Everything a listener needs at run time. */
export interface Deps {
  config: Config;
  store: Store;
  clock: Clock;
  settings: SettingsCache;
  log: Logger;
  /** Upstream requests running now, for shutdown. */
  inflight: InFlight;
  /** This gateway process, as its pending ledger rows name it (see Store.heartbeat). */
  instanceId: string;
  /** The process's metrics; created on first use when the builder of Deps left it out. */
  metrics?: GatewayMetrics;
  /** The Ollama boxes and their queue; created on first use (ops/upstreams.ts) when left out. */
  upstreams?: UpstreamPool;
  /** The cached `upstreams` table the pool reads (ops/upstream_table.ts); created on first use. */
  upstreamTable?: UpstreamTable;
}
