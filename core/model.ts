/**
 * The gateway's entities: keys and the policies that limit them, as the rules in core/ see them.
 * The stores (db/) persist these; they never define them.
 * @module
 */

/** What a limit counts: admitted requests, tokens (prompt + completion), or requests in flight. */
export type Metric = "requests" | "tokens" | "concurrent";

/** The window a limit counts in: a UTC minute, a local day or month, or none (in flight now). */
export type Window = "minute" | "day" | "month" | "none";

/** One limit of a policy. */
export interface Limit {
  metric: Metric;
  window: Window;
  max: number;
}

/** Everything that limits what one key may do; `null` means no limit. */
export interface Policy {
  limits: Limit[];
  /** Allowed model patterns (Ollama's naming rules, `family:*` globs); null: every model. */
  models: string[] | null;
  /** Ceiling on the generation limit sent to Ollama, on every route. */
  max_output_tokens: number | null;
  /** Ceiling on `options.num_ctx` on native routes. */
  max_num_ctx: number | null;
  /** A key unused this many days counts as expired. */
  idle_days: number | null;
}

/** A policy with no limits at all. */
export const OPEN_POLICY: Policy = {
  limits: [],
  models: null,
  max_output_tokens: null,
  max_num_ctx: null,
  idle_days: null,
};

/** An API key as stored, without its hash. Timestamps are ISO 8601 in UTC. */
export interface ApiKey {
  id: number;
  name: string;
  prefix: string;
  active: boolean;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  /** When an admin last activated it (an idle key's clock restarts there). */
  activated_at: string | null;
  policy: Policy;
}

/** What a new key is made of. */
export interface NewApiKey {
  name: string;
  prefix: string;
  key_hash: string;
  expires_at: string | null;
  created_at: string;
  policy: Policy;
}

/** Fields an admin may change on a key; absent fields stay as they are. */
export type ApiKeyPatch = Partial<{
  name: string;
  expires_at: string | null;
  active: boolean;
  activated_at: string | null;
  policy: Policy;
}>;

/** Settled usage of one window as shown to admins. */
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

/** Gateway settings kept in the database. */
export interface Settings {
  ollama_url: string;
  default_model: string;
}
