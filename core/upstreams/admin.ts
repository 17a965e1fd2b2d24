/**
 * What the admin does to the boxes (the JSON API and the Ollama boxes page alike): create,
 * change, delete, with the token sealed before it is stored and names kept unique.
 * @module
 */
import type { Store } from "../store.ts";
import { keepCredentials } from "../redact.ts";
import { sealToken, type StoredUpstream, type UpstreamPatch } from "./records.ts";
import { DEFAULT_MAX_IN_FLIGHT, upstreamName } from "./setting.ts";

/** A box as the admin enters it (absent fields take their defaults, or stay when changing). */
export interface UpstreamInput {
  name?: string;
  url?: string;
  /** The bearer token; "" or null: none. Absent when changing: unchanged. */
  token?: string | null;
  enabled?: boolean;
  max_in_flight?: number | null;
}

/** What a change came to. */
export type UpstreamResult =
  | { kind: "ok"; row: StoredUpstream }
  | { kind: "name_taken"; name: string }
  | { kind: "missing" };

/** Creates a box; its name defaults to its host and port, max_in_flight to 1. */
export async function createUpstream(
  store: Store,
  input: UpstreamInput & { url: string },
  secretsKey: string,
  at: string,
): Promise<UpstreamResult> {
  const name = input.name ?? upstreamName(input.url);
  if ((await store.listUpstreams()).some((u) => u.name === name)) {
    return { kind: "name_taken", name };
  }
  const row = await store.createUpstream({
    name,
    url: input.url,
    token_sealed: sealToken(input.token ?? null, secretsKey),
    enabled: input.enabled ?? true,
    max_in_flight: input.max_in_flight === undefined ? DEFAULT_MAX_IN_FLIGHT : input.max_in_flight,
    created_at: at,
    updated_at: at,
  });
  return { kind: "ok", row };
}

/** Changes the given fields of a box. */
export async function updateUpstream(
  store: Store,
  id: number,
  input: UpstreamInput,
  secretsKey: string,
  at: string,
): Promise<UpstreamResult> {
  const rows = await store.listUpstreams();
  const current = rows.find((u) => u.id === id);
  if (!current) return { kind: "missing" };
  if (input.name !== undefined && rows.some((u) => u.name === input.name && u.id !== id)) {
    return { kind: "name_taken", name: input.name };
  }
  const patch: UpstreamPatch = { updated_at: at };
  if (input.name !== undefined) patch.name = input.name;
  // The page and the API show the URL redacted: sent back as shown, its credentials stay.
  if (input.url !== undefined) patch.url = keepCredentials(input.url, current.url);
  if (input.token !== undefined) patch.token_sealed = sealToken(input.token, secretsKey);
  if (input.enabled !== undefined) patch.enabled = input.enabled;
  if (input.max_in_flight !== undefined) patch.max_in_flight = input.max_in_flight;
  const row = await store.updateUpstream(id, patch);
  return row ? { kind: "ok", row } : { kind: "missing" };
}
