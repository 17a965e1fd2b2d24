/** What both listeners are built from; tests pass their own clock and store. */
import type { Config } from "./config.ts";
import type { Clock } from "./clock.ts";
import type { Logger } from "./log.ts";
import type { SettingsCache } from "./settings.ts";
import type { Store } from "../db/store.ts";
import type { InFlight } from "./inflight.ts";
import type { GatewayMetrics } from "../ops/gateway_metrics.ts";

/** Everything a listener needs at run time. */
export interface Deps {
  config: Config;
  store: Store;
  clock: Clock;
  settings: SettingsCache;
  log: Logger;
  /** Upstream requests running now, for shutdown. */
  inflight: InFlight;
  /** The process's metrics; created on first use when the builder of Deps left it out. */
  metrics?: GatewayMetrics;
}
