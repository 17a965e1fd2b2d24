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
  /** The group whose limits apply too; null: none. */
  group_id: number | null;
  /** How the key passes on who is asking (per-person quotas); null: it does not. */
  delegation: Delegation | null;
}

/** Where a delegating key reads who is asking. */
export type IdentityMode = "openwebui-headers" | "openwebui-jwt";

/** The header names Open WebUI sends (renamable there through FORWARD_USER_INFO_HEADER_*). */
export interface IdentityHeaders {
  user_id: string;
  email: string;
  name: string;
  role: string;
  chat_id: string;
  jwt: string;
}

/** Open WebUI's default header names. */
export const OPENWEBUI_HEADERS: IdentityHeaders = {
  user_id: "X-OpenWebUI-User-Id",
  email: "X-OpenWebUI-User-Email",
  name: "X-OpenWebUI-User-Name",
  role: "X-OpenWebUI-User-Role",
  chat_id: "X-OpenWebUI-Chat-Id",
  jwt: "X-OpenWebUI-User-Jwt",
};

/** A key that stands for many people (Open WebUI's one connection key). */
export interface Delegation {
  identity: IdentityMode;
  /** CIDRs identity is read from (the peer address, or X-Forwarded-For via TRUSTED_PROXIES). */
  trusted_peers: string[];
  headers: IdentityHeaders;
  /** The JWT secret, encrypted (core/secret_box.ts); never shown. */
  secret: string | null;
  /** The limits every person gets, unless an admin set their own. */
  member_limits: Limit[];
  /** Calls without identity: refused, or counted against one shared "unattributed" member. */
  on_missing_identity: "reject" | "unattributed";
}

/** A group of keys sharing limits of its own (a team budget). */
export interface Group {
  id: number;
  name: string;
  policy: Policy;
  created_at: string;
}

/** One person behind a delegating key, created on first sight. */
export interface Member {
  id: number;
  key_id: number;
  /** Open WebUI's user id (or the JWT's `sub`); "" for the shared unattributed member. */
  external_id: string;
  email: string | null;
  name: string | null;
  role: string | null;
  blocked: boolean;
  /** The admin's limits for this person; null: the key's member_limits. */
  limits: Limit[] | null;
  created_at: string;
  last_seen_at: string | null;
}

/** What a new key is made of. */
export interface NewApiKey {
  name: string;
  prefix: string;
  key_hash: string;
  expires_at: string | null;
  created_at: string;
  policy: Policy;
  group_id?: number | null;
  delegation?: Delegation | null;
}

/** Fields an admin may change on a key; absent fields stay as they are. */
export type ApiKeyPatch = Partial<{
  name: string;
  expires_at: string | null;
  active: boolean;
  activated_at: string | null;
  policy: Policy;
  group_id: number | null;
  delegation: Delegation | null;
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
