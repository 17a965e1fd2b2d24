/**
 * A box as the admin reads it (the JSON API and the Ollama boxes page): its settings without
 * the token, and what the pool knows of it now.
 * @module
 */
import { redactUrl } from "../redact.ts";
import type { UpstreamStatus } from "./pool.ts";
import { type StoredUpstream, tokenUnreadable, upstreamView } from "./records.ts";

/** A box's state: disabled, taking requests, ejected, on trial, saturated, or not judged. */
export type BoxState = "disabled" | "healthy" | "ejected" | "trial" | "saturated" | "unprobed";

/** The state of a box from its row and what the pool knows. */
export function boxState(row: StoredUpstream, status: UpstreamStatus | undefined): BoxState {
  if (!row.enabled) return "disabled";
  // Nothing read yet (probes are under way, or none run: a lone box is not probed).
  if (!status || (status.version === null && status.models === null && status.error === null)) {
    return status?.state === "ejected" ? "ejected" : "unprobed";
  }
  if (status.state !== "healthy") return status.state;
  if (status.saturatedTo !== null) return "saturated";
  return "healthy";
}

/** What the admin sees of a box. */
export interface UpstreamStatusView {
  id: number;
  name: string;
  /** Without credentials. */
  url: string;
  has_token: boolean;
  /** The stored token was sealed under another SECRETS_KEY (or ADMIN_PASSWORD): enter it again. */
  token_unreadable: boolean;
  enabled: boolean;
  max_in_flight: number | null;
  created_at: string;
  updated_at: string;
  state: BoxState;
  /** Whether the gateway probes and judges boxes (several); a lone box takes everything. */
  routed: boolean;
  ejected_until: string | null;
  /** Its lowered capacity after a "server busy", or null. */
  saturated_to: number | null;
  in_flight: number;
  failures: number;
  ejections: number;
  version: string | null;
  /** Listed models; null until its tags were read. */
  models: string[] | null;
  loaded: Array<{ name: string; context_length: number | null }>;
  /** The last probe error, or null. */
  error: string | null;
}

/** The admin's view of one box. */
export function upstreamStatusView(
  row: StoredUpstream,
  status: UpstreamStatus | undefined,
  routed: boolean,
  secretsKey: string,
  nowMs: number,
): UpstreamStatusView {
  return {
    ...upstreamView(row),
    url: redactUrl(row.url),
    token_unreadable: tokenUnreadable(row, secretsKey),
    state: boxState(row, status),
    routed,
    ejected_until: status?.ejectedForMs == null
      ? null
      : new Date(nowMs + status.ejectedForMs).toISOString(),
    saturated_to: status?.saturatedTo ?? null,
    in_flight: status?.inFlight ?? 0,
    failures: status?.failures ?? 0,
    ejections: status?.ejections ?? 0,
    version: status?.version ?? null,
    models: status?.models ?? null,
    loaded: status?.loaded.map((m) => ({ name: m.name, context_length: m.contextLength })) ?? [],
    error: status?.error ?? null,
  };
}
