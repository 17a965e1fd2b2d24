/** What both listeners are built from; tests pass their own clock and store. */
import type { Config } from "./config.ts";
import type { Clock } from "./clock.ts";
import type { Logger } from "./log.ts";
import type { SettingsCache } from "./settings.ts";
import type { Store } from "../db/store.ts";

/** Everything a listener needs at run time. */
export interface Deps {
  config: Config;
  store: Store;
  clock: Clock;
  settings: SettingsCache;
  log: Logger;
}
