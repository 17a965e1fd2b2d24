/**
 * Model listings over several boxes (`/api/tags`, `/v1/models`, `/api/ps`): the union of what
 * the boxes that answered list, one entry per model (by Ollama's name rules), in box order. A
 * box that did not answer is simply not part of it.
 * @module
 */
import { canonicalModel } from "../model_names.ts";

type Json = Record<string, unknown>;

/** Where a listing keeps its entries and what names each one. */
export interface ListingShape {
  entries: "models" | "data";
  name: "name" | "id";
}

/**
 * The union of `listings` (parsed JSON answers, one per box, in box order): the first listing's
 * other fields, its entries and every later entry whose model is not in yet; null when no answer
 * is a listing of that shape.
 */
export function mergeListings(listings: ReadonlyArray<unknown>, shape: ListingShape): Json | null {
  let merged: Json | null = null;
  const seen = new Set<string>();
  const entries: unknown[] = [];
  for (const listing of listings) {
    const list = (listing as Json | null)?.[shape.entries];
    if (!Array.isArray(list)) continue;
    merged ??= { ...(listing as Json) };
    for (const entry of list) {
      const name = (entry as Json | null)?.[shape.name];
      // Entries without a usable name are kept as they came: the key's filter drops them.
      if (typeof name !== "string") {
        entries.push(entry);
        continue;
      }
      const canonical = canonicalModel(name);
      if (seen.has(canonical)) continue;
      seen.add(canonical);
      entries.push(entry);
    }
  }
  if (merged === null) return null;
  merged[shape.entries] = entries;
  return merged;
}
