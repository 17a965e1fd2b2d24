/**
 * The storage port: what the gateway needs from a database. One adapter per SQL dialect
 * implements it (db/); both are held to the same contract tests.
 * @module
 */
import type { Ask, Decision, Scope, Snapshot } from "./admission.ts";
import type {
  ApiKey,
  ApiKeyPatch,
  Group,
  KeyUsage,
  Limit,
  Member,
  NewApiKey,
  Policy,
} from "./model.ts";
import type { Charge, OllamaTimings } from "./settlement.ts";
export type { OllamaTimings } from "./settlement.ts";
import type { RequestQuery, RequestRow, UsageQuery, UsageRow } from "./analytics/types.ts";
import type { NewUpstream, StoredUpstream, UpstreamPatch } from "./upstreams/records.ts";

/** The windows a request is admitted in (see core/windows.ts). */
export interface WindowKeys {
  /** UTC minute, `YYYY-MM-DDTHH:MM`. */
  minute: string;
  /** Local day, `YYYY-MM-DD`. */
  day: string;
  monthStart: string;
  monthEnd: string;
}

/** The logged facts of a request at admission. */
export interface RequestStart {
  keyId: number;
  /** The person behind a delegating key (see Store.memberFor); null for other keys. */
  memberId: number | null;
  windows: WindowKeys;
  route: string;
  /** The model as recorded: canonicalModel's spelling (core/model_names.ts), not the client's. */
  model: string;
  startedAt: string;
  /** The gateway process admitting it (its in-flight requests are released if it dies). */
  instanceId: string;
  /**
   * The caller may ask again with an exact prompt count when a token limit refuses the prompt's
   * upper bound (`does_not_fit`): such a refusal is then not recorded, the second answer is.
   */
  provisional?: boolean;
}

/** What an admission came to. */
export type Admission =
  /** Admitted: the request unit, the reservation and a pending ledger row are recorded. */
  | { kind: "admitted"; requestId: number; decision: Decision & { ok: true } }
  /**
   * A limit, the model list or a block refused it: no counter changed; the refusal is counted
   * in the usage rollups and (up to a cap per key and minute) logged as a 'refused' ledger row.
   */
  | { kind: "refused"; decision: Decision & { ok: false } }
  /** The key, read inside the transaction, can no longer be used; nothing was recorded. */
  | { kind: "unusable"; key: ApiKey }
  /** The key no longer exists (or the member named is not the key's); nothing was recorded. */
  | { kind: "missing" };

/**
 * How an admitted request ended. Its key, windows and reservation are read from its ledger row,
 * so a settlement cannot touch counters its admission did not.
 */
export interface Settlement {
  requestId: number;
  charge: Charge;
  durationMs: number;
  /** Ms from the request's start until the first byte of the answer went out; null: none did. */
  ttfbMs?: number | null;
  /** Ollama's own timings (its load/prompt_eval/eval durations, in ms) when it reported them. */
  timings?: OllamaTimings | null;
  /** The name of the Ollama box whose answer was relayed (request_log.upstream), or null. */
  upstream?: string | null;
}

/** A counter that differs from what the request ledger says it should be. */
export interface AuditDifference {
  scope: Scope;
  owner_id: number;
  day: string;
  field: "requests" | "prompt_tokens" | "completion_tokens" | "reserved_tokens";
  counter: number;
  ledger: number;
}

/** A usage rollup that differs from what the request ledger says it should be. */
export interface RollupDifference {
  /** Which rollup: the 15-minute one per key, the key-less one, or the per-local-day one. */
  table: "usage_15m" | "usage_15m_all" | "usage_day" | "usage_day_all";
  /** The rollup row (bucket or day, key, model, route…) as text, for the operator. */
  at: string;
  field: string;
  rollup: number;
  ledger: number;
}

/** What analytics maintenance (compaction and retention) is asked to do. */
export interface AnalyticsMaintenance {
  nowMs: number;
  /** APP_TZ: the zone local days are compacted in. */
  timeZone: string;
  /** request_log rows (never pending ones) that started this many days ago are deleted. */
  requestLogRetentionDays: number;
  /** 15-minute rollup buckets older than this many days are deleted, after compaction. */
  rollup15mRetentionDays: number;
  /** Rows deleted per batch (between batches SQLite yields to the event loop). */
  batchRows?: number;
}

/** What analytics maintenance did. */
export interface MaintenanceResult {
  /** False: another gateway of the cluster holds the maintenance lock (PostgreSQL). */
  ran: boolean;
  compactedDays: number;
  deletedRequests: number;
  deletedBuckets: number;
}

/** What `releaseStale` releases. */
export interface StaleCutoffs {
  /** Pending requests started before this (ISO) are released whatever their gateway. */
  startedBefore: string;
  /** Pending requests of gateways whose last heartbeat is before this (ISO) are released. */
  silentSince: string;
  /** Per-minute counters of minutes before this (ISO) are deleted: no admission reads them. */
  minutesBefore: string;
}

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

  /** Writes settings that are not stored yet (name → stored text); stored ones win. */
  seedSettings(defaults: Record<string, string>): Promise<void>;
  /** Every stored setting, name → stored text. */
  getSettings(): Promise<Record<string, string>>;
  /** Stores the given settings and returns all of them. */
  updateSettings(patch: Record<string, string>): Promise<Record<string, string>>;

  createKey(key: NewApiKey): Promise<ApiKey>;
  /** Every key that is not deleted, by id. */
  listKeys(): Promise<ApiKey[]>;
  getKey(id: number): Promise<ApiKey | null>;
  findKeyByHash(hash: string): Promise<ApiKey | null>;
  /** Updates a key; null when it does not exist. */
  updateKey(id: number, patch: ApiKeyPatch): Promise<ApiKey | null>;
  /**
   * Deletes a key: it can no longer be used or seen; its ledger rows stay (who used what) and so
   * do the counters they add up to. False when it did not exist.
   */
  deleteKey(id: number): Promise<boolean>;

  createGroup(name: string, policy: Policy, createdAt: string): Promise<Group>;
  listGroups(): Promise<Group[]>;
  getGroup(id: number): Promise<Group | null>;
  /** Updates a group; null when it does not exist. */
  updateGroup(id: number, patch: { name?: string; policy?: Policy }): Promise<Group | null>;
  /**
   * Deletes a group. A group that still has keys is kept ("has_keys") unless `force`, which
   * detaches them first.
   */
  deleteGroup(id: number, force: boolean): Promise<"deleted" | "missing" | "has_keys">;

  /**
   * The member of a delegating key for a person, created on first sight; its email, name and
   * role are refreshed from what the key's front end says now.
   */
  memberFor(
    keyId: number,
    person: { external_id: string; email: string | null; name: string | null; role: string | null },
    seenAt: string,
  ): Promise<Member>;
  listMembers(keyId: number): Promise<Member[]>;
  /** Updates a member of a key; null when there is no such member of that key. */
  updateMember(
    keyId: number,
    memberId: number,
    patch: { blocked?: boolean; limits?: Limit[] | null },
  ): Promise<Member | null>;

  /** Usage of each owner of a scope in a day and month (owners without usage are absent). */
  usageByOwner(scope: Scope, windows: WindowKeys): Promise<Map<number, KeyUsage>>;
  /**
   * What admission would see for these owners in these windows (settled, reserved, in flight),
   * without admitting anything: for showing a key holder what is left.
   */
  snapshots(
    owners: ReadonlyArray<{ scope: Scope; id: number }>,
    windows: WindowKeys,
  ): Promise<Map<string, Snapshot>>;
  /**
   * A key's requests in flight per local day (of admission) and model, oldest first. Settled
   * ones are in the rollups (`usage`); core/analytics/key_history.ts adds the two.
   */
  pendingUsage(keyId: number): Promise<DayModelUsage[]>;
  /** Requests of each key in flight now, and per-minute usage in `minute` (absent: none). */
  liveUsageByKey(minute: string): Promise<Map<number, LiveUsage>>;

  /**
   * Atomically reads the key, its group and member and their usage in the request's windows,
   * decides with core/scopes.ts `admissionDecision` at `nowMs`, and when it admits records the
   * request unit and the reservation for every owner and a pending ledger row. A refusal is
   * counted in the usage rollups in the same transaction (unless `start.provisional` and the
   * caller will ask again), and logged as a 'refused' ledger row within the per-key cap.
   */
  admit(start: RequestStart, ask: Ask, nowMs: number): Promise<Admission>;
  /**
   * Applies core/settlement.ts `counterChanges` for the request's ledger row, and in the same
   * transaction core/analytics/rollup.ts `rollupDelta` to its usage rollup rows.
   */
  settle(s: Settlement): Promise<void>;

  /** Records that a gateway process is alive (its pending requests are not released). */
  heartbeat(instanceId: string, at: string): Promise<void>;
  /**
   * Releases the reservations and in-flight slots of pending requests whose gateway went
   * silent or that are older than the cutoff: the request unit stays charged, the row is
   * marked abandoned. Returns how many were released.
   */
  releaseStale(cutoffs: StaleCutoffs): Promise<number>;
  /** Recomputes every day counter from the request ledger and returns the differences. */
  audit(): Promise<AuditDifference[]>;
  /**
   * Recomputes the usage rollups from the request ledger for the period both still hold (and
   * the per-day rollups from the 15-minute ones) with core/analytics/rollup.ts, and returns the
   * differences. Refusals beyond the logging cap are in the rollups only: a rollup may count
   * more refusals than the ledger holds, never fewer, and never a different other counter.
   */
  auditRollups(): Promise<RollupDifference[]>;

  /**
   * Usage counters grouped by `q.groupBy`, read from the rollups only, never from the request
   * log. Time dimensions are local periods in `q.timeZone` (see core/analytics/periods.ts),
   * each an exact union of UTC 15-minute buckets; day totals equal the quota day counters.
   * Rows are ordered by the dimensions in the order asked.
   */
  usage(q: UsageQuery): Promise<UsageRow[]>;
  /**
   * A page of the request log, newest first: rows with (started_at, id) < `q.before` ORDER BY
   * started_at DESC, id DESC LIMIT `q.limit` — keyset pagination, never OFFSET, never COUNT(*),
   * so any page costs the same however deep it is.
   */
  requestLog(q: RequestQuery): Promise<RequestRow[]>;
  /**
   * Compacts complete local days of the 15-minute rollups into the per-day rollups, then deletes
   * request_log rows past their retention (never pending ones) and 15-minute buckets past
   * theirs, in small batches. Runs once per cluster on PostgreSQL (an advisory lock); changes no
   * quota counter and no chart total.
   */
  maintainAnalytics(m: AnalyticsMaintenance): Promise<MaintenanceResult>;

  /** Every Ollama box, by id. */
  listUpstreams(): Promise<StoredUpstream[]>;
  getUpstream(id: number): Promise<StoredUpstream | null>;
  createUpstream(row: NewUpstream): Promise<StoredUpstream>;
  /** Updates a box; null when it does not exist. */
  updateUpstream(id: number, patch: UpstreamPatch): Promise<StoredUpstream | null>;
  /** Deletes a box; false when it did not exist. */
  deleteUpstream(id: number): Promise<boolean>;
  /**
   * Inserts `rows` unless the boxes were seeded before (a marker in settings, so deleting every
   * box does not bring them back at the next start); atomic, so two gateways starting together
   * seed once. Whether it seeded.
   */
  seedUpstreams(rows: ReadonlyArray<NewUpstream>): Promise<boolean>;

  /**
   * Shared leases on boxes, present where several gateway processes share one database
   * (PostgreSQL): a lease on box `upstreamId` for `instanceId` when fewer than `limit` are out
   * over every instance (null: no limit), decided in one statement; its id, or null.
   */
  takeUpstreamLease?(upstreamId: number, instanceId: string, limit: number | null): Promise<
    number | null
  >;
  /** Gives back a lease `takeUpstreamLease` granted. */
  releaseUpstreamLease?(leaseId: number): Promise<void>;
  /** Leases out now per box, over every instance (boxes without any are absent). */
  upstreamLeaseCounts?(): Promise<Map<number, number>>;
  /** Gives back every lease of `instanceId` (its gateway stops); how many there were. */
  releaseInstanceLeases?(instanceId: string): Promise<number>;
}

/** The name of the settings row that says the boxes were seeded (core/upstreams/records.ts). */
export const UPSTREAMS_SEEDED = "upstreams_seeded";

/** Usage of one model on one local day. */
export interface DayModelUsage {
  day: string;
  model: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
}

/** A key's usage that is not in the day counters: in flight now, and this minute. */
export interface LiveUsage {
  inFlight: number;
  minuteRequests: number;
  minuteTokens: number;
}
