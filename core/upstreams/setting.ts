/**
 * The boxes named by the `ollama_url` setting (and OLLAMA_URL): one URL, or several separated by
 * commas. Phase 1 of several boxes: until the boxes have a table of their own, this is where
 * they come from.
 * @module
 */
import type { UpstreamConfig } from "./types.ts";

/**
 * The max_in_flight of each box when the setting names several: 1, Ollama's default
 * OLLAMA_NUM_PARALLEL. A single box keeps no limit at the gateway, as before.
 */
export const DEFAULT_MAX_IN_FLIGHT = 1;

/** The URLs of a setting: split at commas, trimmed, without trailing slashes, each once. */
export function upstreamUrls(setting: string): string[] {
  const urls = setting.split(",").map((u) => u.trim().replace(/\/+$/, "")).filter(Boolean);
  return [...new Set(urls)];
}

/** A name for a box that shows no credentials: its host and port (and path, if any). */
export function upstreamName(url: string): string {
  try {
    const u = new URL(url);
    return u.host + (u.pathname === "/" ? "" : u.pathname);
  } catch {
    return "ollama";
  }
}

/** The boxes of recent settings (a setting rarely changes; a few entries are plenty). */
const recent = new Map<string, UpstreamConfig[]>();

/** The boxes of a setting (the same array for the same text, so the pool sees no change). */
export function upstreamsFromSetting(setting: string): UpstreamConfig[] {
  const known = recent.get(setting);
  if (known) return known;
  const urls = upstreamUrls(setting);
  const names = new Map<string, number>();
  const boxes = urls.map((url): UpstreamConfig => {
    const base = upstreamName(url);
    const n = (names.get(base) ?? 0) + 1;
    names.set(base, n);
    return {
      id: url,
      name: n === 1 ? base : `${base}#${n}`,
      url,
      token: null,
      enabled: true,
      maxInFlight: urls.length > 1 ? DEFAULT_MAX_IN_FLIGHT : null,
    };
  });
  if (recent.size >= 8) recent.clear();
  recent.set(setting, boxes);
  return boxes;
}
