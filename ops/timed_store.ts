/**
 * Times every store call into `llmq_db_duration_seconds{op}` without touching the adapters: a
 * Proxy wraps each method once, so methods added to the Store later are timed too.
 * @module
 */
import type { Store } from "../core/store.ts";
import type { GatewayMetrics } from "./gateway_metrics.ts";

/** Returns a Store that records the duration (and failures) of each call of `store`. */
export function timedStore(store: Store, metrics: GatewayMetrics): Store {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      let fn = wrapped.get(prop);
      if (!fn) {
        const histogram = metrics.dbDuration.labels(prop);
        const errors = metrics.dbErrors.labels(prop);
        fn = function (...args: unknown[]) {
          const started = performance.now();
          const done = () => histogram.observe((performance.now() - started) / 1000);
          let result: unknown;
          try {
            // Adapters keep their state in private fields, so `this` must be the real store.
            result = value.apply(target, args);
          } catch (err) {
            done();
            errors.inc();
            throw err;
          }
          if (!(result instanceof Promise)) {
            done();
            return result;
          }
          return result.then((v) => {
            done();
            return v;
          }, (err) => {
            done();
            errors.inc();
            throw err;
          });
        };
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}
