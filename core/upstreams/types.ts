/**
 * The words the routing core speaks: an Ollama box as configured, and what one attempt on a box
 * said about it.
 * @module
 */

/** One Ollama box as configured: a row of the `upstreams` table (core/upstreams/records.ts). */
export interface UpstreamConfig {
  /** Stable identity: the table's row id (as text). */
  id: string;
  /** Shown in metrics, logs and the admin; never holds credentials. */
  name: string;
  /** The base URL, without a trailing slash. */
  url: string;
  /** A bearer token the box expects (write-only in the admin), or null. */
  token: string | null;
  enabled: boolean;
  /**
   * Requests the gateway sends the box at once (set it to its OLLAMA_NUM_PARALLEL); null: no
   * limit at the gateway, Ollama queues them itself.
   */
  maxInFlight: number | null;
}

/**
 * What an attempt said about its box, given when its lease is released:
 * - `ok`: it answered (a success: saturation grows back, the failure streak ends);
 * - `failed`: connection error, reset, no headers in time, a 5xx other than "server busy", a
 *   stream cut mid-way (three in a row eject the box);
 * - `busy`: Ollama's 503 "server busy" or a 429 (the box is saturated, not broken);
 * - `model_missing`: a 404 "model not found" from a box that listed the model (tags are stale);
 * - `neutral`: nothing learned (the client left, a 4xx about the request itself).
 */
export type Verdict = "ok" | "failed" | "busy" | "model_missing" | "neutral";
