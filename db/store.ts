/**
 * The one store interface; each SQL dialect has an adapter implementing it.
 * @module
 */
import type { Decision, Limits, WindowUsage } from "../core/quota.ts";

/** An API key as stored, without its hash. Timestamps are ISO 8601 in UTC. */
export interface ApiKey extends Limits {
  id: number;
  name: string;
  prefix: string;
  active: boolean;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

/** A key as found by its hash for authentication. */
export type ApiKeyRecord = ApiKey;

/** What a new key is made of. */
export interface NewApiKey extends Limits {
  name: string;
  prefix: string;
  key_hash: string;
  expires_at: string | null;
  created_at: string;
}

/** Fields an admin may change on a key; absent fields stay as they are. */
export type ApiKeyPatch = Partial<
  Limits & { name: string; expires_at: string | null; active: boolean }
>;

/** Counters of one window as shown to admins. */
export interface UsageTotals {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  tokens: number;
}

/** Usage of one key today and this month. */
export interface KeyUsage {
  today: UsageTotals;
  month: UsageTotals;
}

/** The window a request is admitted in. */
export interface WindowKeys {
  day: string;
  monthStart: string;
  monthEnd: string;
}

/** The logged facts of a request at admission. */
export interface RequestStart {
  keyId: number;
  windows: WindowKeys;
  route: string;
  model: string;
  startedAt: string;
}

/** The admission result: the decision and, when admitted, the request's ledger id. */
export interface Admission {
  decision: Decision;
  requestId: number | null;
}

/** How an admitted request ended. */
export interface Settlement {
  requestId: number;
  keyId: number;
  day: string;
  reservation: number;
  /** False when the request produced nothing: its request unit is given back. */
  charged: boolean;
  promptTokens: number;
  completionTokens: number;
  estimated: boolean;
  status: number;
  durationMs: number;
}

/** A counter that differs from what the request ledger says it should be. */
export interface AuditDifference {
  key_id: number;
  day: string;
  field: "requests" | "prompt_tokens" | "completion_tokens" | "reserved_tokens";
  counter: number;
  ledger: number;
}

/**
 * Every setting kept in the database with its value while none is stored: the one list both
 * adapters read and write (a new setting is one line here). Values are stored as text.
 */
export const SETTING_DEFAULTS = {
  ollama_url: "",
  default_model: "",
  /** The proxy's address as clients reach it; "" = PUBLIC_URL, else derived (Proxy info). */
  public_url: "",
};

/** Gateway settings kept in the database. */
export type Settings = typeof SETTING_DEFAULTS;

/** Storage for keys, usage, the request ledger and settings. */
export interface Store {
  readonly dialect: "sqlite" | "postgres";
  /** Applies pending numbered migrations. */
  migrate(): Promise<void>;
  /**
   * Versions of the code's migrations the database has not applied (empty: schema current).
   * A query, so it also proves the database answers; readiness checks use it.
   */
  pendingMigrations(): Promise<number[]>;
  /** Closes connections; pending writes are flushed first. */
  close(): Promise<void>;

  /** Writes settings that are not stored yet; stored ones win. */
  seedSettings(defaults: Partial<Settings>): Promise<void>;
  getSettings(): Promise<Settings>;
  updateSettings(patch: Partial<Settings>): Promise<Settings>;

  createKey(key: NewApiKey): Promise<ApiKey>;
  listKeys(): Promise<ApiKey[]>;
  getKey(id: number): Promise<ApiKey | null>;
  findKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  /** Updates a key; null when it does not exist. */
  updateKey(id: number, patch: ApiKeyPatch): Promise<ApiKey | null>;
  /** Deletes a key with its usage; false when it did not exist. */
  deleteKey(id: number): Promise<boolean>;

  /** Usage of the given keys in a day and month (keys without usage are absent). */
  usageByKey(windows: WindowKeys): Promise<Map<number, KeyUsage>>;

  /**
   * Atomically reads the key's limits and window usage, asks `decide`, and when it admits
   * records the request unit, the token reservation and a pending ledger row.
   * Returns null when the key no longer exists. `decide` may throw to refuse without recording
   * anything (a key deactivated since it was authenticated); the error reaches the caller.
   */
  admit(
    start: RequestStart,
    decide: (key: ApiKey, usage: WindowUsage) => Decision,
  ): Promise<Admission | null>;
  /** Releases the reservation and records the request's final usage. */
  settle(s: Settlement): Promise<void>;

  /**
   * Releases the reservations of requests still pending from before `startedBefore` (a gateway
   * that died mid-request): the request unit stays charged, the row is marked abandoned.
   * Returns how many were released.
   */
  releaseStale(startedBefore: string): Promise<number>;
  /** Recomputes every day counter from the request ledger and returns the differences. */
  audit(): Promise<AuditDifference[]>;
}
