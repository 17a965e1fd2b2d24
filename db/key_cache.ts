/**
 * API keys by hash, cached in process: every request looks its key up, and keys change rarely.
 * A change made through this instance's store (update, delete) empties the cache at once; a
 * change made by another instance (or the key CLI) is seen within KEY_CACHE_TTL_MS. Admission
 * re-reads the key inside its transaction, so quotas, deactivation and expiry of inference
 * requests are never judged on a cached copy.
 * @module
 */
import type { ApiKey } from "../core/model.ts";
import type { Store } from "../core/store.ts";

/** How long a key read from the database is trusted for authentication (milliseconds). */
export const KEY_CACHE_TTL_MS = 2000;

/** Entries kept at most; a full cache starts over rather than tracking recency. */
const MAX_ENTRIES = 10_000;

/** Returns `store` with `findKeyByHash` cached and key changes invalidating the cache. */
export function withKeyCache(store: Store, now: () => number = () => performance.now()): Store {
  const cache = new Map<string, { key: ApiKey; readAt: number }>();
  // Bumped by every change, so a lookup that raced with a change does not store what it read.
  let generation = 0;
  const invalidate = () => {
    generation++;
    cache.clear();
  };
  const overrides: Partial<Store> = {
    async findKeyByHash(hash) {
      const hit = cache.get(hash);
      if (hit && now() - hit.readAt < KEY_CACHE_TTL_MS) return hit.key;
      const seen = generation;
      const readAt = now();
      const key = await store.findKeyByHash(hash);
      // Unknown hashes are not cached: random keys must not be able to fill the cache.
      if (key && seen === generation) {
        if (cache.size >= MAX_ENTRIES) cache.clear();
        cache.set(hash, { key, readAt });
      } else if (!key) cache.delete(hash);
      return key;
    },
    // After the change, not before: a lookup that read the old row while the change ran either
    // stored it before this (and is cleared here) or finds the generation moved on.
    async updateKey(id, patch) {
      try {
        return await store.updateKey(id, patch);
      } finally {
        invalidate();
      }
    },
    async deleteKey(id) {
      try {
        return await store.deleteKey(id);
      } finally {
        invalidate();
      }
    },
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof Store];
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      // Adapters keep their state in private fields, so `this` must be the real store.
      let fn = bound.get(prop);
      if (!fn) bound.set(prop, fn = value.bind(target));
      return fn;
    },
  });
}
