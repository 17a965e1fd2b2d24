/**
 * Gateway settings: one table of every setting with its default and stored form, read through a
 * short cache, so a change through the admin reaches the next request on this instance at once
 * and every other instance within SETTINGS_TTL_MS. A new setting is one entry in SETTINGS.
 * @module
 */
import type { Store } from "./store.ts";

/** How long another instance may serve settings it read before a change (milliseconds). */
export const SETTINGS_TTL_MS = 2000;

/** Every gateway setting kept in the database. */
export interface Settings {
  ollama_url: string;
  default_model: string;
  /** The proxy's address as clients reach it; "" = PUBLIC_URL, else derived (Proxy info). */
  public_url: string;
  /** A client's longer or negative (forever) `keep_alive` is clamped to this (seconds). */
  keep_alive_max_seconds: number;
  /** `options.num_ctx` forced per model on native routes, so clients share one runner. */
  num_ctx_by_model: Record<string, number>;
  /** A client's larger `options.num_ctx` is lowered to this; null: no ceiling. */
  num_ctx_max: number | null;
  /** Whether `*-cloud` models (run on ollama.com on the box owner's account) may be used. */
  allow_cloud_models: boolean;
  /** Whether the web_search tool (searches through ollama.com) may be used. */
  allow_web_search: boolean;
  /** Whether clients may replace the model's prompt template (`template` on /api/generate). */
  allow_template_override: boolean;
}

/** How one setting is stored: strings as they are, everything else as JSON. */
interface SettingDef<T> {
  fallback: T;
  decode(text: string): T;
  encode(value: T): string;
}

const text = (fallback: string): SettingDef<string> => ({
  fallback,
  decode: (t) => t,
  encode: (v) => v,
});

function json<T>(fallback: T, valid: (v: unknown) => boolean): SettingDef<T> {
  return {
    fallback,
    decode(t) {
      try {
        const v = JSON.parse(t);
        return valid(v) ? v as T : fallback;
      } catch {
        return fallback; // a value written by hand that is not JSON: the default applies
      }
    },
    encode: (v) => JSON.stringify(v),
  };
}

const isBool = (v: unknown) => typeof v === "boolean";
const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

/** Every setting with its default (the defaults protect a shared box). */
export const SETTINGS: { [K in keyof Settings]: SettingDef<Settings[K]> } = {
  ollama_url: text(""),
  default_model: text(""),
  public_url: text(""),
  keep_alive_max_seconds: json(1800, isCount),
  num_ctx_by_model: json<Record<string, number>>(
    {},
    (v) =>
      typeof v === "object" && v !== null && !Array.isArray(v) &&
      Object.values(v).every((n) => isCount(n) && (n as number) > 0),
  ),
  num_ctx_max: json<number | null>(32768, (v) => v === null || (isCount(v) && (v as number) > 0)),
  allow_cloud_models: json(false, isBool),
  allow_web_search: json(false, isBool),
  allow_template_override: json(false, isBool),
};

const NAMES = Object.keys(SETTINGS) as Array<keyof Settings>;

/** Settings from their stored texts; absent or unreadable ones take their default. */
export function decodeSettings(stored: Record<string, string>): Settings {
  const out: Record<string, unknown> = {};
  for (const name of NAMES) {
    const def = SETTINGS[name] as SettingDef<unknown>;
    out[name] = name in stored ? def.decode(stored[name]) : def.fallback;
  }
  return out as unknown as Settings;
}

/** The stored texts of the given settings. */
export function encodeSettings(patch: Partial<Settings>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of NAMES) {
    const value = patch[name];
    if (value !== undefined) out[name] = (SETTINGS[name] as SettingDef<unknown>).encode(value);
  }
  return out;
}

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
    this.#value = decodeSettings(await this.#store.getSettings());
    this.#readAt = performance.now();
    return this.#value;
  }

  /** Stores a change and makes it visible to the next request at once. */
  async update(patch: Partial<Settings>): Promise<Settings> {
    this.#value = decodeSettings(await this.#store.updateSettings(encodeSettings(patch)));
    this.#readAt = performance.now();
    return this.#value;
  }
}
