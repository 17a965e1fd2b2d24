/**
 * Gateway settings read through a short cache, so a change through the admin reaches the next
 * request on this instance at once and every other instance within SETTINGS_TTL_MS.
 * @module
 */
import type { Settings, Store } from "../db/store.ts";

/** How long another instance may serve settings it read before a change (milliseconds). */
export const SETTINGS_TTL_MS = 2000;

/** Cached access to the stored settings. */
export class SettingsCache {
  #store: Store;
  #value: Settings | null = null;
  #readAt = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  /** The current settings, from the cache when it is fresh. */
  async get(): Promise<Settings> {
    if (this.#value && performance.now() - this.#readAt < SETTINGS_TTL_MS) return this.#value;
    this.#value = await this.#store.getSettings();
    this.#readAt = performance.now();
    return this.#value;
  }

  /** Stores a change and makes it visible to the next request at once. */
  async update(patch: Partial<Settings>): Promise<Settings> {
    this.#value = await this.#store.updateSettings(patch);
    this.#readAt = performance.now();
    return this.#value;
  }
}
