/**
 * The URLs of OLLAMA_URL (or of an `ollama_url` setting stored before the boxes table): one, or
 * several separated by commas; and the names boxes get from them. The first start seeds the
 * boxes table from them (records.ts).
 * @module
 */

/**
 * The max_in_flight of a box added, or seeded with others: 1, Ollama's default
 * OLLAMA_NUM_PARALLEL. A box seeded alone keeps no limit at the gateway, as before.
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
