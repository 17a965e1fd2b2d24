/**
 * PostgreSQL adapter (npm `postgres`). Every value is bound as a parameter through tagged
 * templates. Admission locks the key's row (`SELECT … FOR UPDATE`) inside a transaction, so
 * requests of one key are serialised across every gateway sharing the database.
 * @module
 */
import postgres from "postgres";
import { postgresMigrations } from "./migrations/postgres.ts";
import {
  connectionUsable,
  connectPostgres,
  type PostgresOptions,
  reserveConnection,
  type Sql,
  type Types,
} from "./postgres_connect.ts";
import {
  addInFlight,
  ApiKeyMemo,
  AUDIT_SQL,
  auditDifferences,
  delegationToJson,
  ledgerOwners,
  MINUTE_BIT,
  ownersOf,
  PATCHABLE_COLUMNS,
  PENDING_USAGE_SQL,
  policyToJson,
  snapshotsFromRows,
  toApiKey,
  toDayModelUsage,
  toGroup,
  toLiveUsageMap,
  toMember,
  toUpstream,
  toUsageMap,
} from "./rows.ts";
import {
  admitted,
  type Ask,
  type Decision,
  emptySnapshot,
  retriableWithEstimate,
  type Scope,
  type Snapshot,
} from "../core/admission.ts";
import { ABANDONED, bucketOf, ROLLUP_COLUMNS, rollupOf } from "../core/analytics/rollup.ts";
import { RefusalLogCap, RefusedModelCap } from "../core/analytics/refusal_cap.ts";
import { refusedFacts, RollupBatch, rollupKeyOf, toRequestRow } from "./rollup_rows.ts";
import { COUNTER_LIST, endingOfStatus, perRow, upsertSet } from "./rollup_sql.ts";
import { type Query, requestLogQuery } from "./analytics_sql.ts";
import { auditRollups } from "./rollup_audit.ts";
import { readUsage } from "./usage_read.ts";
import { runMaintenance } from "./maintenance.ts";
import type { NewUpstream, StoredUpstream, UpstreamPatch } from "../core/upstreams/records.ts";
import { admissionDecision, type Owners, scopesFor, scopesNeed } from "../core/scopes.ts";
import type {
  ApiKey,
  ApiKeyPatch,
  Group,
  KeyUsage,
  Limit,
  Member,
  NewApiKey,
  Policy,
} from "../core/model.ts";
import type { RequestQuery, RequestRow, UsageQuery, UsageRow } from "../core/analytics/types.ts";
import type {
  Admission,
  AnalyticsMaintenance,
  AuditDifference,
  DayModelUsage,
  LiveUsage,
  MaintenanceResult,
  RequestStart,
  RollupDifference,
  Settlement,
  StaleCutoffs,
  Store,
  WindowKeys,
} from "../core/store.ts";
import { UPSTREAMS_SEEDED } from "../core/store.ts";

export { describePostgresUrl, type PostgresOptions } from "./postgres_connect.ts";

/** Key of the advisory lock that serialises migrations across gateways ("llmq" + 1). */
const MIGRATION_LOCK = 0x6c6c6d71_01;

/** An admission waiting for, or part of, a batch. */
interface AdmitJob extends PromiseWithResolvers<Admission> {
  start: RequestStart;
  ask: Ask;
  nowMs: number;
}

/** A settlement waiting for, or part of, a batch. */
interface SettleJob extends PromiseWithResolvers<void> {
  settlement: Settlement;
}

/** Key of the advisory lock that lets one gateway of a cluster run analytics maintenance. */
export const MAINTENANCE_LOCK = 0x6c6c6d71_02;

/** The rollup rows' lock order, as every statement here sorts them. */
const ROLLUP_ORDER =
  `key_id, bucket, model COLLATE "C", route COLLATE "C", group_id, member_id, upstream COLLATE "C"`;
const ROLLUP_ALL_ORDER = `bucket, model COLLATE "C", route COLLATE "C", upstream COLLATE "C"`;
const KEY_COLUMNS = "bucket, key_id, model, route, group_id, member_id, upstream";
const RECORD_TYPES = [
  "bucket bigint, key_id bigint, model text, route text, group_id bigint, member_id bigint",
  "upstream text",
  ...ROLLUP_COLUMNS.map((c) => `${c} bigint`),
].join(", ");

/** The per-day rollups' lock order. */
const DAY_ORDER =
  `s.key_id, c.tz COLLATE "C", c.day COLLATE "C", s.model COLLATE "C", s.route COLLATE "C", s.group_id, s.member_id, s.upstream COLLATE "C"`;
const DAY_ALL_ORDER =
  `c.tz COLLATE "C", c.day COLLATE "C", s.model COLLATE "C", s.route COLLATE "C", s.upstream COLLATE "C"`;

/**
 * CTEs adding the rows of relation `src` (dimensions and counters as usage_15m's) that fall in
 * an already compacted local day to that day's rollups as well (a request that settles, or is
 * reaped, after its day was compacted), in lock order, after CTE `after` has run. They end
 * with CTE `day_all_rows`.
 */
function compactedDayCtes(src: string, after: string): string {
  const sums = ROLLUP_COLUMNS.map((c) => `SUM(s.${c})`).join(", ");
  const inDay =
    `FROM ${src} s JOIN usage_compacted c ON s.bucket >= c.from_ms AND s.bucket < c.to_ms`;
  return `), day_rows AS (
  INSERT INTO usage_day (tz, day, key_id, model, route, group_id, member_id, upstream,
    ${COUNTER_LIST})
  SELECT c.tz, c.day, s.key_id, s.model, s.route, s.group_id, s.member_id, s.upstream, ${sums}
    ${inDay}
   WHERE (SELECT COUNT(*) FROM ${after}) >= 0
   GROUP BY c.tz, c.day, s.key_id, s.model, s.route, s.group_id, s.member_id, s.upstream
   ORDER BY ${DAY_ORDER}
  ON CONFLICT (key_id, tz, day, model, route, group_id, member_id, upstream)
  DO UPDATE SET ${upsertSet("usage_day")}
  RETURNING 1
), day_all_rows AS (
  INSERT INTO usage_day_all (tz, day, model, route, upstream, ${COUNTER_LIST})
  SELECT c.tz, c.day, s.model, s.route, s.upstream, ${sums}
    ${inDay}
   WHERE (SELECT COUNT(*) FROM day_rows) >= 0
   GROUP BY c.tz, c.day, s.model, s.route, s.upstream
   ORDER BY ${DAY_ALL_ORDER}
  ON CONFLICT (tz, day, model, route, upstream) DO UPDATE SET ${upsertSet("usage_day_all")}
  RETURNING 1`;
}

/**
 * Upserts rollup increments given as a JSON array of rows (dimensions and counters, one row per
 * keyed rollup row): the keyed rows in lock order, then the key-less ones summed, then the
 * rows of days already compacted. Each step reads the one before it (\`WHERE (SELECT COUNT(*)
 * FROM …) >= 0\`), which makes it run after it: PostgreSQL leaves the order of data-modifying
 * CTEs unspecified otherwise, and the lock order depends on it.
 */
const ROLLUP_JSON_UPSERT = `
WITH r AS (SELECT * FROM json_to_recordset($1::text::json) AS r(${RECORD_TYPES})
), keyed AS (
  INSERT INTO usage_15m (${KEY_COLUMNS}, ${COUNTER_LIST})
  SELECT ${KEY_COLUMNS}, ${COUNTER_LIST} FROM r ORDER BY ${ROLLUP_ORDER}
  ON CONFLICT (key_id, bucket, model, route, group_id, member_id, upstream)
  DO UPDATE SET ${upsertSet("usage_15m")}
  RETURNING 1
), keyless AS (
  INSERT INTO usage_15m_all (bucket, model, route, upstream, ${COUNTER_LIST})
  SELECT bucket, model, route, upstream, ${ROLLUP_COLUMNS.map((c) => `SUM(${c})`).join(", ")}
    FROM r WHERE (SELECT COUNT(*) FROM keyed) >= 0
   GROUP BY bucket, model, route, upstream ORDER BY ${ROLLUP_ALL_ORDER}
  ON CONFLICT (bucket, model, route, upstream) DO UPDATE SET ${upsertSet("usage_15m_all")}
  RETURNING 1
${compactedDayCtes("r", "keyless")}
)
SELECT COUNT(*) FROM day_all_rows`;

/** The JSON rows of a rollup batch, for ROLLUP_JSON_UPSERT. */
function rollupJson(batch: RollupBatch): string {
  return JSON.stringify(
    batch.sorted().map(({ key, inc }) => {
      const row: Record<string, string | number> = {
        bucket: key.bucket,
        key_id: key.keyId,
        model: key.model,
        route: key.route,
        group_id: key.groupId,
        member_id: key.memberId,
        upstream: key.upstream,
      };
      ROLLUP_COLUMNS.forEach((c, i) => row[c] = inc[i]);
      return row;
    }),
  );
}

/** What an abandoned row counted, per column, taken off when it settles late. */
const ABANDONED_COUNTS = rollupOf(ABANDONED);
const DIMS = "bucket, key_id, model, route, group_id, member_id";
const CONTRIB_DIMS =
  "bucket, key_id, model, route, COALESCE(group_id, 0) AS group_id, COALESCE(member_id, 0) AS member_id";

/**
 * The settlement batch's rollup writes: CTEs after its \`counted\` CTE (the counter update).
 * The rollup rule of core/analytics/rollup.ts reimplemented in SQL (db/rollup_sql.ts
 * \`perRow\`); the store contract tests hold it to \`rollupOf\`/\`rollupDelta\`. \`contrib\`
 * holds each settled row's facts under the box it names, and for a late settlement of an
 * abandoned request the abandonment's counts taken off under the box it was counted with.
 * Each write reads the one before it, so they run in that order (counter rows, then 15-minute
 * rows, then compacted days' rows): PostgreSQL does not order unreferenced data-modifying CTEs.
 */
const SETTLED_ROLLUP_CTES = `      ), contrib AS (
        SELECT ${CONTRIB_DIMS}, upstream,
               ${ROLLUP_COLUMNS.map((c) => `${perRow(c)} AS ${c}`).join(",\n  ")}
          FROM logged
        UNION ALL
        SELECT ${CONTRIB_DIMS}, prior_upstream,
               ${ROLLUP_COLUMNS.map((c, i) => `${-ABANDONED_COUNTS[i]} AS ${c}`).join(", ")}
          FROM logged WHERE prior_state = 'abandoned'
      ), rolled AS (
        INSERT INTO usage_15m (${KEY_COLUMNS}, ${COUNTER_LIST})
        SELECT ${DIMS}, upstream, ${ROLLUP_COLUMNS.map((c) => `SUM(${c})`).join(", ")}
          FROM contrib WHERE (SELECT COUNT(*) FROM counted) >= 0
         GROUP BY ${DIMS}, upstream
         ORDER BY ${ROLLUP_ORDER}
        ON CONFLICT (key_id, bucket, model, route, group_id, member_id, upstream)
        DO UPDATE SET ${upsertSet("usage_15m")}
        RETURNING 1
      ), rolled_all AS (
        INSERT INTO usage_15m_all (bucket, model, route, upstream, ${COUNTER_LIST})
        SELECT bucket, model, route, upstream, ${ROLLUP_COLUMNS.map((c) => `SUM(${c})`).join(", ")}
          FROM contrib WHERE (SELECT COUNT(*) FROM rolled) >= 0
         GROUP BY bucket, model, route, upstream
         ORDER BY ${ROLLUP_ALL_ORDER}
        ON CONFLICT (bucket, model, route, upstream)
        DO UPDATE SET ${upsertSet("usage_15m_all")}
        RETURNING 1
${compactedDayCtes("contrib", "rolled_all")}
      )
      SELECT COUNT(*) FROM day_all_rows`;

/** A refusal to record with its admission batch. */
interface Refused {
  job: AdmitJob;
  owners: Owners;
  decision: Decision & { ok: false };
  /** Whether it is logged as a ledger row (within the per-key cap), or only counted. */
  logged: boolean;
}

/** Most admissions (settlements) in one batch: bounds statement size and lock hold time. */
const MAX_BATCH = 500;

/**
 * Opens a pooled connection to PostgreSQL, waiting (bounded by `connectTimeoutSeconds`) for the
 * server to come up. Throws `Cannot connect to PostgreSQL at …` when it does not.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresOptions & { writeRollups?: boolean } = {},
): Promise<PostgresStore> {
  return new PostgresStore(await connectPostgres(url, options), options.writeRollups ?? true);
}

/** One admitted job of a batch, as its writes need it. */
interface Admitted {
  index: number;
  job: AdmitJob;
  owners: Owners;
  reservation: number;
  /** MINUTE_BIT of each scope that counts it per minute. */
  minuteScopes: number;
}

/** What a batch adds to one counter row. */
interface CounterAdd {
  scope: Scope;
  id: number;
  period: "day" | "minute";
  bucket: string;
  requests: number;
  reserved: number;
}

/** Byte order of (scope, owner_id, period, bucket): the lock order, as SQL sorts it with COLLATE "C". */
function byCounterKey(a: CounterAdd, b: CounterAdd): number {
  return a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : a.id - b.id ||
    (a.period < b.period
      ? -1
      : a.period > b.period
      ? 1
      : a.bucket < b.bucket
      ? -1
      : a.bucket > b.bucket
      ? 1
      : 0);
}

/** The PostgreSQL implementation of Store. */
export class PostgresStore implements Store {
  readonly dialect = "postgres" as const;
  #sql: Sql;
  /** Admissions waiting for the batch in flight to finish. */
  #admitQueue: AdmitJob[] = [];
  /** The loop running admission batches, while there is one. */
  #admitLoop: Promise<void> | null = null;
  /** Settlements waiting for the statement in flight to finish. */
  #settleQueue: SettleJob[] = [];
  /** The loop running settlement batches, while there is one. */
  #settleLoop: Promise<void> | null = null;
  /** Refusal rows this process may still log per key this minute. */
  #refusalCap = new RefusalLogCap();
  /** Admission's keys, rebuilt only when their row changed. */
  #admittedKeys = new ApiKeyMemo();
  /** Refused model names this process still counts by name per key this bucket. */
  #refusedModels = new RefusedModelCap();

  /** False only in the benchmark's "before" run (bench/analytics.ts): no rollup writes. */
  #writeRollups: boolean;

  constructor(sql: Sql, writeRollups = true) {
    this.#sql = sql;
    this.#writeRollups = writeRollups;
  }

  async migrate(): Promise<void> {
    await this.#sql.begin(async (tx) => {
      // Held until commit: a second gateway starting now waits here, then finds nothing to do.
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
      await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`;
      const rows = await tx`SELECT version FROM schema_migrations`;
      const done = new Set(rows.map((r) => Number(r.version)));
      for (const m of postgresMigrations) {
        if (done.has(m.version)) continue;
        await tx.unsafe(m.sql); // constant DDL from the migration list, no values
        await tx`INSERT INTO schema_migrations (version, name, applied_at)
                 VALUES (${m.version}, ${m.name}, now())`;
      }
    });
  }

  async pendingMigrations(): Promise<number[]> {
    const rows = await this.#sql`SELECT version FROM schema_migrations`;
    const applied = new Set(rows.map((r) => Number(r.version)));
    return postgresMigrations.map((m) => m.version).filter((v) => !applied.has(v));
  }

  async close(): Promise<void> {
    // Queued admissions and settlements run to completion first: each loop settles its own
    // promises, and a job left queued behind a closed pool would never be answered.
    while (this.#admitLoop || this.#settleLoop) {
      await Promise.all([this.#admitLoop, this.#settleLoop]);
    }
    await this.#sql.end({ timeout: 5 });
  }

  async seedSettings(defaults: Record<string, string>): Promise<void> {
    await this.#sql.begin(async (tx) => {
      for (const [name, value] of Object.entries(defaults)) {
        await tx`INSERT INTO settings (name, value) VALUES (${name}, ${value})
                 ON CONFLICT (name) DO NOTHING`;
      }
    });
  }

  async getSettings(): Promise<Record<string, string>> {
    const rows = await this.#sql`SELECT name, value FROM settings`;
    return Object.fromEntries(rows.map((r) => [String(r.name), String(r.value)]));
  }

  async updateSettings(patch: Record<string, string>): Promise<Record<string, string>> {
    await this.#sql.begin(async (tx) => {
      for (const [name, value] of Object.entries(patch)) {
        await tx`INSERT INTO settings (name, value) VALUES (${name}, ${value})
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
      }
    });
    return this.getSettings();
  }

  async createKey(k: NewApiKey): Promise<ApiKey> {
    const [row] = await this.#sql`
      INSERT INTO api_keys (name, prefix, key_hash, active, created_at, expires_at, policy,
        group_id, delegation)
      VALUES (${k.name}, ${k.prefix}, ${k.key_hash}, TRUE, ${k.created_at}, ${k.expires_at},
        ${policyToJson(k.policy)}, ${k.group_id ?? null}, ${delegationToJson(k.delegation)})
      RETURNING *`;
    return toApiKey(row);
  }

  async listKeys(): Promise<ApiKey[]> {
    const rows = await this.#sql`SELECT * FROM api_keys WHERE deleted_at IS NULL ORDER BY id`;
    return rows.map(toApiKey);
  }

  async getKey(id: number): Promise<ApiKey | null> {
    const [row] = await this.#sql`
      SELECT * FROM api_keys WHERE id = ${id} AND deleted_at IS NULL`;
    return row ? toApiKey(row) : null;
  }

  async findKeyByHash(hash: string): Promise<ApiKey | null> {
    const [row] = await this.#sql`
      SELECT * FROM api_keys WHERE key_hash = ${hash} AND deleted_at IS NULL`;
    return row ? toApiKey(row) : null;
  }

  async updateKey(id: number, patch: ApiKeyPatch): Promise<ApiKey | null> {
    // Column names come from the fixed PATCHABLE_COLUMNS list; values are bound parameters.
    const columns = PATCHABLE_COLUMNS.filter((c) => patch[c] !== undefined);
    if (columns.length === 0) return this.getKey(id);
    const values: Record<string, string | number | boolean | null> = {};
    for (const c of columns) {
      values[c] = c === "policy"
        ? policyToJson(patch.policy!)
        : c === "delegation"
        ? delegationToJson(patch.delegation)
        : patch[c] as string | number | boolean | null;
    }
    const [row] = await this.#sql`
      UPDATE api_keys SET ${this.#sql(values, columns)}
       WHERE id = ${id} AND deleted_at IS NULL RETURNING *`;
    return row ? toApiKey(row) : null;
  }

  async deleteKey(id: number): Promise<boolean> {
    const result = await this.#sql`
      UPDATE api_keys SET deleted_at = now(), active = FALSE
       WHERE id = ${id} AND deleted_at IS NULL`;
    return result.count > 0;
  }

  async createGroup(name: string, policy: Policy, createdAt: string): Promise<Group> {
    const [row] = await this.#sql`
      INSERT INTO key_groups (name, policy, created_at)
      VALUES (${name}, ${policyToJson(policy)}, ${createdAt}) RETURNING *`;
    return toGroup(row);
  }

  async listGroups(): Promise<Group[]> {
    return (await this.#sql`SELECT * FROM key_groups ORDER BY id`).map(toGroup);
  }

  async getGroup(id: number): Promise<Group | null> {
    const [row] = await this.#sql`SELECT * FROM key_groups WHERE id = ${id}`;
    return row ? toGroup(row) : null;
  }

  async updateGroup(id: number, patch: { name?: string; policy?: Policy }): Promise<Group | null> {
    const [row] = await this.#sql`
      UPDATE key_groups SET name = COALESCE(${patch.name ?? null}, name),
        policy = COALESCE(${patch.policy ? policyToJson(patch.policy) : null}, policy)
       WHERE id = ${id} RETURNING *`;
    return row ? toGroup(row) : null;
  }

  async deleteGroup(id: number, force: boolean): Promise<"deleted" | "missing" | "has_keys"> {
    return await this.#sql.begin(async (tx) => {
      // Locked first, as admissions lock groups only after keys: the key updates below wait
      // for running admissions of those keys, which never wait for this group row.
      const [group] = await tx`SELECT id FROM key_groups WHERE id = ${id}`;
      if (!group) return "missing" as const;
      const [{ n }] = await tx`
        SELECT COUNT(*)::bigint AS n FROM api_keys WHERE group_id = ${id} AND deleted_at IS NULL`;
      if (n > 0 && !force) return "has_keys" as const;
      await tx`UPDATE api_keys SET group_id = NULL WHERE group_id = ${id}`;
      await tx`DELETE FROM key_groups WHERE id = ${id}`;
      return "deleted" as const;
    });
  }

  async memberFor(
    keyId: number,
    person: { external_id: string; email: string | null; name: string | null; role: string | null },
    seenAt: string,
  ): Promise<Member> {
    const [row] = await this.#sql`
      INSERT INTO key_members (key_id, external_id, email, name, role, created_at, last_seen_at)
      VALUES (${keyId}, ${person.external_id}, ${person.email}, ${person.name}, ${person.role},
        ${seenAt}, ${seenAt})
      ON CONFLICT (key_id, external_id) DO UPDATE SET email = excluded.email,
        name = excluded.name, role = excluded.role, last_seen_at = excluded.last_seen_at
      RETURNING *`;
    return toMember(row);
  }

  async listMembers(keyId: number): Promise<Member[]> {
    return (await this.#sql`SELECT * FROM key_members WHERE key_id = ${keyId} ORDER BY id`)
      .map(toMember);
  }

  async updateMember(
    keyId: number,
    memberId: number,
    patch: { blocked?: boolean; limits?: Limit[] | null },
  ): Promise<Member | null> {
    const limits = patch.limits === undefined
      ? undefined
      : patch.limits === null
      ? null
      : JSON.stringify(patch.limits);
    const [row] = await this.#sql`
      UPDATE key_members SET
        blocked = COALESCE(${patch.blocked ?? null}::boolean, blocked),
        limits = CASE WHEN ${limits !== undefined} THEN ${limits ?? null} ELSE limits END
       WHERE id = ${memberId} AND key_id = ${keyId} RETURNING *`;
    return row ? toMember(row) : null;
  }

  async usageByOwner(scope: Scope, w: WindowKeys): Promise<Map<number, KeyUsage>> {
    const rows = await this.#sql`
      SELECT owner_id, 'day' AS window, requests, prompt_tokens, completion_tokens
        FROM usage_counters WHERE scope = ${scope} AND period = 'day' AND bucket = ${w.day}
      UNION ALL
      SELECT owner_id, 'month' AS window, SUM(requests)::bigint AS requests,
             SUM(prompt_tokens)::bigint AS prompt_tokens,
             SUM(completion_tokens)::bigint AS completion_tokens
        FROM usage_counters
       WHERE scope = ${scope} AND period = 'day'
         AND bucket >= ${w.monthStart} AND bucket < ${w.monthEnd}
       GROUP BY owner_id`;
    return toUsageMap(rows);
  }

  async snapshots(
    owners: ReadonlyArray<{ scope: Scope; id: number }>,
    w: WindowKeys,
  ): Promise<Map<string, Snapshot>> {
    const scopes = owners.map((o) => o.scope);
    const ids = owners.map((o) => o.id);
    const [rows, flights] = await Promise.all([
      this.#sql`
        SELECT c.scope, c.owner_id, c.period, c.bucket, c.requests,
               c.prompt_tokens + c.completion_tokens AS tokens, c.reserved_tokens
          FROM usage_counters c
          JOIN unnest(${scopes}::text[], ${ids}::bigint[]) AS o(scope, owner_id)
            USING (scope, owner_id)
         WHERE (c.period = 'day' AND c.bucket >= ${w.monthStart} AND c.bucket < ${w.monthEnd})
            OR (c.period = 'minute' AND c.bucket = ${w.minute})`,
      this.#sql`
        SELECT o.scope, o.owner_id, COUNT(r.id)::bigint AS in_flight
          FROM unnest(${scopes}::text[], ${ids}::bigint[]) AS o(scope, owner_id)
          LEFT JOIN request_log r ON r.state = 'pending' AND (
            (o.scope = 'key' AND r.key_id = o.owner_id) OR
            (o.scope = 'group' AND r.group_id = o.owner_id) OR
            (o.scope = 'member' AND r.member_id = o.owner_id))
         GROUP BY o.scope, o.owner_id`,
    ]);
    const out = snapshotsFromRows(rows, w);
    addInFlight(out, flights);
    return out;
  }

  async pendingUsage(keyId: number): Promise<DayModelUsage[]> {
    // Constant SQL shared with SQLite, values bound as parameters.
    return (await this.#sql.unsafe(PENDING_USAGE_SQL, [keyId])).map(toDayModelUsage);
  }

  async liveUsageByKey(minute: string): Promise<Map<number, LiveUsage>> {
    const rows = await this.#sql`
      SELECT key_id, COUNT(*)::bigint AS in_flight, 0::bigint AS minute_requests,
             0::bigint AS minute_tokens
        FROM request_log WHERE state = 'pending' GROUP BY key_id
      UNION ALL
      SELECT owner_id, 0, requests, prompt_tokens + completion_tokens + reserved_tokens
        FROM usage_counters WHERE scope = 'key' AND period = 'minute' AND bucket = ${minute}`;
    return toLiveUsageMap(rows);
  }

  admit(start: RequestStart, ask: Ask, nowMs: number): Promise<Admission> {
    const job: AdmitJob = { start, ask, nowMs, ...Promise.withResolvers<Admission>() };
    this.#admitQueue.push(job);
    this.#admitLoop ??= this.#runAdmissions();
    return job.promise;
  }

  /**
   * Group commit: one admission transaction at a time per store; admissions that arrive while
   * it runs wait and then share the next one. Per admission that saves the BEGIN, COMMIT, lock
   * and read statements (postgres.js and socket CPU) and, on a hot key, the row lock is taken
   * once for many admissions instead of being handed from connection to connection.
   */
  async #runAdmissions(): Promise<void> {
    try {
      while (this.#admitQueue.length > 0) {
        // One usage read serves the whole batch, so its jobs must ask about the same windows;
        // the others (a batch straddling a minute or midnight) go to the next batch.
        const w = this.#admitQueue[0].start.windows;
        const batch: AdmitJob[] = [];
        const rest: AdmitJob[] = [];
        for (const job of this.#admitQueue) {
          const jw = job.start.windows;
          const same = jw.minute === w.minute && jw.day === w.day &&
            jw.monthStart === w.monthStart && jw.monthEnd === w.monthEnd;
          (same && batch.length < MAX_BATCH ? batch : rest).push(job);
        }
        this.#admitQueue = rest;
        await this.#admitBatch(w, batch);
      }
    } finally {
      this.#admitLoop = null;
    }
  }

  /** Runs a batch of admissions in one transaction; settles every job's promise, never throws. */
  async #admitBatch(w: WindowKeys, jobs: AdmitJob[]): Promise<void> {
    const keyIds = [...new Set(jobs.map((j) => j.start.keyId))].sort((a, b) => a - b);
    const memberIds = [
      ...new Set(jobs.flatMap((j) => j.start.memberId === null ? [] : [j.start.memberId])),
    ];
    let tx: postgres.ReservedSql<Types>;
    try {
      // A reserved connection rather than sql.begin(): begin() awaits BEGIN alone and COMMIT
      // alone, two extra round trips, the COMMIT one while the row locks are held. Here
      // postgres.js pipelines the statements given together (each carries its own Sync, so they
      // still run one after the other on the server): two round trips per batch.
      tx = await reserveConnection(this.#sql);
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    let usable = true;
    try {
      const groupsOfKeys = tx`
        SELECT group_id FROM api_keys WHERE id = ANY(${keyIds}::bigint[]) AND group_id IS NOT NULL`;
      const [, keyRows, groupRows, memberRows, counterRows, flightRows] = await Promise.all([
        tx`BEGIN`,
        // The row locks serialise admissions of these keys until commit, across all
        // connections and gateways; taken in id order so two batches cannot deadlock. Groups
        // are locked after keys, always, so admissions of keys of one group serialise on it
        // and two batches still cannot wait for each other in a circle.
        tx`SELECT * FROM api_keys WHERE id = ANY(${keyIds}::bigint[]) AND deleted_at IS NULL
            ORDER BY id FOR UPDATE`,
        tx`SELECT * FROM key_groups WHERE id IN (${groupsOfKeys}) ORDER BY id FOR UPDATE`,
        // A member is only ever admitted through its key, whose lock serialises it already.
        tx`SELECT * FROM key_members WHERE id = ANY(${memberIds}::bigint[])`,
        // Their own statements, so under READ COMMITTED they take fresh snapshots when they
        // start, which is after the locks above are granted: they see everything the previous
        // holders committed. Folded into the locking statements they would keep the snapshot
        // taken before the lock wait and miss that.
        // The month's other days summed (bucket ''): at most three rows per owner however
        // late in the month, not one per day (snapshotsFromRows adds them up).
        tx`
          SELECT scope, owner_id, period,
                 CASE WHEN period = 'day' AND bucket <> ${w.day} THEN '' ELSE bucket END
                   AS bucket,
                 SUM(requests) AS requests, SUM(prompt_tokens + completion_tokens) AS tokens,
                 SUM(reserved_tokens) AS reserved_tokens
            FROM usage_counters
           WHERE ((scope = 'key' AND owner_id = ANY(${keyIds}::bigint[]))
               OR (scope = 'group' AND owner_id IN (${groupsOfKeys}))
               OR (scope = 'member' AND owner_id = ANY(${memberIds}::bigint[])))
             AND ((period = 'day' AND bucket >= ${w.monthStart} AND bucket < ${w.monthEnd})
               OR (period = 'minute' AND bucket = ${w.minute}))
           GROUP BY scope, owner_id, period, 4`,
        tx`
          SELECT 'key' AS scope, key_id AS owner_id, COUNT(*)::bigint AS in_flight
            FROM request_log WHERE key_id = ANY(${keyIds}::bigint[]) AND state = 'pending'
           GROUP BY key_id
          UNION ALL
          SELECT 'group', group_id, COUNT(*)::bigint FROM request_log
           WHERE group_id IN (${groupsOfKeys}) AND state = 'pending' GROUP BY group_id
          UNION ALL
          SELECT 'member', member_id, COUNT(*)::bigint FROM request_log
           WHERE member_id = ANY(${memberIds}::bigint[]) AND state = 'pending'
           GROUP BY member_id`,
      ]);
      const keys = new Map(keyRows.map((r) => [Number(r.id), this.#admittedKeys.of(r)]));
      const groups = new Map(groupRows.map((r) => [Number(r.id), toGroup(r)]));
      const members = new Map(memberRows.map((r) => [Number(r.id), toMember(r)]));
      const snapshots = snapshotsFromRows(counterRows, w);
      addInFlight(snapshots, flightRows);
      const outcomes: Admission[] = [];
      const accepted: Admitted[] = [];
      const refusals: Refused[] = [];
      // In arrival order, each decision seeing the admissions decided before it in the batch,
      // exactly as if each had run in its own transaction one after the other.
      for (const [index, job] of jobs.entries()) {
        const key = keys.get(job.start.keyId);
        if (!key) {
          outcomes.push({ kind: "missing" });
          continue;
        }
        const member = job.start.memberId === null ? null : members.get(job.start.memberId);
        // A named member that is not there would drop its limits: fail instead.
        if (job.start.memberId !== null && (!member || member.key_id !== key.id)) {
          outcomes.push({ kind: "missing" });
          continue;
        }
        const owners: Owners = {
          key,
          group: key.group_id === null ? null : groups.get(key.group_id) ?? null,
          member: member ?? null,
        };
        const scopes = scopesFor(
          owners,
          (scope, id) => snapshots.get(`${scope}:${id}`) ?? emptySnapshot(),
        );
        const decision = admissionDecision(owners, scopes, job.ask, job.nowMs);
        if (decision === null) {
          outcomes.push({ kind: "unusable", key });
          continue;
        }
        if (!decision.ok) {
          outcomes.push({ kind: "refused", decision });
          if (!(job.start.provisional && retriableWithEstimate(decision))) {
            const logged = this.#refusalCap.admit(key.id, job.nowMs);
            refusals.push({ job, owners, decision, logged });
          }
          continue;
        }
        // What the writes below add, for the decisions after this one (the same rule).
        let minuteScopes = 0;
        for (const s of scopes) {
          snapshots.set(`${s.scope}:${s.id}`, admitted(s.snapshot, decision.reservation));
          if (scopesNeed([s], { window: "minute" })) minuteScopes |= MINUTE_BIT[s.scope];
        }
        outcomes.push({ kind: "admitted", requestId: 0, decision });
        accepted.push({ index, job, owners, reservation: decision.reservation, minuteScopes });
      }
      if (accepted.length === 0 && refusals.length === 0) {
        // Nothing written: ROLLBACK, which unlike COMMIT does not wait for the WAL flush the
        // row locks' records would need.
        await tx`ROLLBACK`;
      } else if (accepted.length === 0) {
        // Refusals only: counted (and logged) without touching counters or last_used_at.
        await Promise.all([this.#writeRefusals(tx, w, refusals), tx`COMMIT`]);
      } else {
        const ids = await this.#writeAdmissions(tx, w, accepted, refusals);
        for (const [i, a] of accepted.entries()) {
          (outcomes[a.index] as { requestId: number }).requestId = ids[i];
        }
      }
      // Answered only now: after COMMIT succeeded, or after the ROLLBACK of a batch that wrote
      // nothing.
      for (const [i, job] of jobs.entries()) job.resolve(outcomes[i]);
    } catch (err) {
      usable = connectionUsable(err);
      if (usable) {
        await tx`ROLLBACK`.catch((e) => {
          usable = connectionUsable(e);
        });
      }
      for (const job of jobs) job.reject(err);
    } finally {
      // A connection that went away is left alone: the pool has already taken it back as closed.
      if (usable) tx.release();
    }
  }

  /**
   * Records a batch's refusals: ledger rows for those within the cap, rollup increments for
   * all. postgres.js sends a query when it is first awaited (or `.execute()`d), and this
   * awaits its queries at once: callers that write counter rows in the same transaction send
   * that statement first (see #writeAdmissions), so rollup rows are locked after counter rows,
   * as settlement batches and releaseStale lock them.
   */
  #writeRefusals(
    tx: postgres.ReservedSql<Types>,
    w: WindowKeys,
    refusals: Refused[],
  ): Promise<unknown> {
    if (refusals.length === 0) return Promise.resolve();
    const batch = new RollupBatch();
    const rows = refusals.map((r) => {
      const facts = refusedFacts(r.decision, r.logged);
      const start = r.job.start;
      const bucket = bucketOf(Date.parse(start.startedAt));
      const key = {
        bucket,
        keyId: start.keyId,
        model: this.#refusedModels.model(start.keyId, start.model, bucket),
        route: start.route,
        groupId: r.owners.group?.id ?? 0,
        memberId: r.owners.member?.id ?? 0,
        upstream: "",
      };
      batch.add(key, rollupOf(facts));
      return { r, facts, key };
    });
    const logged = rows.filter((x) => x.r.logged);
    const col = <T>(f: (x: (typeof rows)[number]) => T) => logged.map(f);
    return Promise.all([
      logged.length === 0 ? Promise.resolve() : tx`
        INSERT INTO request_log (key_id, group_id, member_id, day, minute, instance_id,
          started_at, route, model, state, charged, status, outcome, refused_by, bucket)
        SELECT key_id, group_id, member_id, ${w.day}, ${w.minute}, instance_id, started_at,
               route, model, 'refused', FALSE, status, 'refused', refused_by, bucket
          FROM unnest(${col((x) => x.key.keyId)}::bigint[],
            ${col((x) => x.r.owners.group?.id ?? null)}::bigint[],
            ${col((x) => x.r.owners.member?.id ?? null)}::bigint[],
            ${col((x) => x.r.job.start.instanceId)}::text[],
            ${col((x) => x.r.job.start.startedAt)}::timestamptz[],
            ${col((x) => x.key.route)}::text[], ${col((x) => x.key.model)}::text[],
            ${col((x) => x.facts.status)}::integer[], ${col((x) => x.facts.refusedBy)}::text[],
            ${col((x) => x.key.bucket)}::bigint[])
            AS r(key_id, group_id, member_id, instance_id, started_at, route, model, status,
              refused_by, bucket)`,
      this.#writeRollups ? tx.unsafe(ROLLUP_JSON_UPSERT, [rollupJson(batch)]) : Promise.resolve(),
    ]);
  }

  /**
   * Writes the batch's admissions in one statement pipelined with the refusals' writes and
   * COMMIT, and returns their ledger ids in the order of `accepted`. Should a statement fail,
   * the server answers the COMMIT of the failed transaction with a rollback, and this throws.
   */
  async #writeAdmissions(
    tx: postgres.ReservedSql<Types>,
    w: WindowKeys,
    accepted: Admitted[],
    refusals: Refused[],
  ): Promise<number[]> {
    // Every counter row the batch adds to, once each, in primary-key order: the order
    // settlement batches and releaseStale lock them in, so none of them can deadlock.
    const rows = new Map<string, CounterAdd>();
    for (const a of accepted) {
      for (const o of ownersOf(a.owners)) {
        const periods: Array<["day" | "minute", string]> = [["day", w.day]];
        if (a.minuteScopes & MINUTE_BIT[o.scope]) periods.push(["minute", w.minute]);
        for (const [period, bucket] of periods) {
          const at = `${o.scope}\u0000${o.id}\u0000${period}\u0000${bucket}`;
          const row = rows.get(at) ?? { ...o, period, bucket, requests: 0, reserved: 0 };
          row.requests += 1;
          row.reserved += a.reservation;
          rows.set(at, row);
        }
      }
    }
    const counters = [...rows.values()].sort(byCounterKey);
    const col = <T>(f: (a: Admitted) => T) => accepted.map(f);
    const cc = <T>(f: (c: CounterAdd) => T) => counters.map(f);
    // Ledger ids are drawn in a CTE and inserted explicitly, so each job's id is known by its
    // ordinal rather than by the (unspecified) order RETURNING rows come back in. A CTE read
    // twice is evaluated once: one nextval per job.
    // Sent now, before the refusals' writes are built (building them sends them): counter rows
    // must be locked before rollup rows in every transaction, or a mixed batch and a settlement
    // batch on the same rollup row deadlock (40P01).
    const admission = tx`
        WITH jobs AS (
          SELECT * FROM unnest(${col((a) => a.owners.key.id)}::bigint[],
            ${col((a) => a.owners.group?.id ?? null)}::bigint[],
            ${col((a) => a.owners.member?.id ?? null)}::bigint[],
            ${col((a) => a.reservation)}::bigint[],
            ${col((a) => a.job.start.startedAt)}::timestamptz[],
            ${col((a) => a.job.start.route)}::text[], ${col((a) => a.job.start.model)}::text[],
            ${col((a) => a.job.start.instanceId)}::text[],
            ${col((a) => a.minuteScopes)}::integer[])
            WITH ORDINALITY AS j(key_id, group_id, member_id, reservation, started_at, route,
              model, instance_id, minute_scopes, ord)
        ), ids AS (
          SELECT ord, nextval(pg_get_serial_sequence('request_log', 'id')) AS id FROM jobs
        ), counted AS (
          INSERT INTO usage_counters (scope, owner_id, period, bucket, requests, reserved_tokens)
          SELECT scope, owner_id, period, bucket, requests, reserved FROM unnest(${
      cc((c) => c.scope)
    }::text[], ${cc((c) => c.id)}::bigint[],
            ${cc((c) => c.period)}::text[], ${cc((c) => c.bucket)}::text[],
            ${cc((c) => c.requests)}::bigint[], ${cc((c) => c.reserved)}::bigint[])
            WITH ORDINALITY AS c(scope, owner_id, period, bucket, requests, reserved, ord)
          ORDER BY ord
          ON CONFLICT (scope, owner_id, period, bucket) DO UPDATE SET
            requests = usage_counters.requests + excluded.requests,
            reserved_tokens = usage_counters.reserved_tokens + excluded.reserved_tokens
        ), used AS (
          UPDATE api_keys SET last_used_at = latest.started_at
            FROM (SELECT DISTINCT ON (key_id) key_id, started_at FROM jobs
                   ORDER BY key_id, ord DESC) AS latest
           WHERE api_keys.id = latest.key_id
             -- Kept to the minute (core/api_keys.ts writesLastUse): no new row version a request.
             AND (api_keys.last_used_at IS NULL OR
                  date_trunc('minute', api_keys.last_used_at) < date_trunc('minute', latest.started_at))
        ), logged AS (
          INSERT INTO request_log (id, key_id, group_id, member_id, day, minute, minute_scopes,
            instance_id, started_at, route, model, reserved_tokens, bucket)
          OVERRIDING SYSTEM VALUE
          SELECT ids.id, jobs.key_id, jobs.group_id, jobs.member_id, ${w.day}, ${w.minute},
                 jobs.minute_scopes, jobs.instance_id, jobs.started_at, jobs.route, jobs.model,
                 jobs.reservation,
                 (floor(extract(epoch FROM jobs.started_at) / 900) * 900000)::bigint
            FROM jobs JOIN ids USING (ord)
        )
        SELECT id FROM ids ORDER BY ord`.execute();
    const [result] = await Promise.all([
      admission,
      this.#writeRefusals(tx, w, refusals),
      tx`COMMIT`,
    ]);
    return result.map((r) => Number(r.id));
  }

  settle(s: Settlement): Promise<void> {
    const job: SettleJob = { settlement: s, ...Promise.withResolvers<void>() };
    this.#settleQueue.push(job);
    this.#settleLoop ??= this.#runSettlements();
    return job.promise;
  }

  /** Group commit for settlements: those arriving while one statement runs share the next. */
  async #runSettlements(): Promise<void> {
    try {
      while (this.#settleQueue.length > 0) {
        const batch = this.#settleQueue.splice(0, MAX_BATCH);
        try {
          await this.#settleBatch(batch.map((j) => j.settlement));
          for (const job of batch) job.resolve();
        } catch (err) {
          for (const job of batch) job.reject(err);
        }
      }
    } finally {
      this.#settleLoop = null;
    }
  }

  /**
   * Settles a batch in one statement, which is atomic on its own: no BEGIN/COMMIT. This is
   * core/settlement.ts `counterChanges` in SQL (the store contract tests hold both to it):
   * pending → reservation released, unit given back unless charged; abandoned → late, charged,
   * nothing released; settled or gone → nothing. Each ledger row changes the day rows (and,
   * where it counted there, the minute rows) of its key, group and member.
   */
  async #settleBatch(all: Settlement[]): Promise<void> {
    // A second settlement of a request in the same batch is a no-op, as it is when it comes
    // later (the row is no longer pending): only the first of each request goes in.
    const seen = new Set<number>();
    const batch = all.filter((s) => !seen.has(s.requestId) && seen.add(s.requestId));
    const col = <T>(f: (s: Settlement) => T) => batch.map(f);
    // Ledger rows are locked first (id order), then the counter rows (primary-key order), then
    // the rollup rows (SETTLED_ROLLUP_CTES): the order releaseStale and admissions lock in too,
    // so none of them can deadlock with another gateway's batch. FOR UPDATE sees the state of a releaseStale it waited for. The GROUP BY
    // in `deltas` needs every ledger row first, so no counter row is locked while a ledger lock
    // is still awaited.
    await this.#sql`
      WITH input AS (
        -- Flags travel as 0/1: postgres.js 3.4.9 sends a JS boolean array with the type of a
        -- single boolean, which the server refuses to cast to boolean[].
        SELECT request_id, charged <> 0 AS charged, prompt_tokens, completion_tokens,
               estimated <> 0 AS estimated, status, duration_ms, ttfb_ms, load_ms,
               prompt_eval_ms, eval_ms, NULLIF(upstream, '') AS upstream
          FROM unnest(
          ${col((s) => s.requestId)}::bigint[],
          ${col((s) => s.charge.charged ? 1 : 0)}::integer[],
          ${col((s) => s.charge.charged ? s.charge.promptTokens : 0)}::bigint[],
          ${col((s) => s.charge.charged ? s.charge.completionTokens : 0)}::bigint[],
          ${col((s) => s.charge.estimated ? 1 : 0)}::integer[],
          ${col((s) => s.charge.status)}::integer[],
          ${col((s) => s.durationMs)}::bigint[],
          ${col((s) => s.ttfbMs ?? null)}::bigint[],
          ${col((s) => s.timings?.loadMs ?? null)}::bigint[],
          ${col((s) => s.timings?.promptEvalMs ?? null)}::bigint[],
          ${col((s) => s.timings?.evalMs ?? null)}::bigint[],
          -- '' stands for none: a null inside a text[] parameter is not worth the trouble.
          ${col((s) => s.upstream ?? "")}::text[])
          AS s(request_id, charged, prompt_tokens, completion_tokens, estimated, status,
            duration_ms, ttfb_ms, load_ms, prompt_eval_ms, eval_ms, upstream)
      ), prior AS (
        SELECT id, state, key_id, group_id, member_id, day, minute, minute_scopes,
               reserved_tokens, upstream
          FROM request_log
         WHERE id = ANY(${col((s) => s.requestId)}::bigint[])
           AND state IN ('pending', 'abandoned')
         ORDER BY id
         FOR UPDATE
      ), logged AS (
        UPDATE request_log SET state = 'settled',
          charged = input.charged OR prior.state = 'abandoned', status = input.status,
          prompt_tokens = input.prompt_tokens, completion_tokens = input.completion_tokens,
          estimated = input.estimated, duration_ms = input.duration_ms,
          outcome = ${this.#sql.unsafe(endingOfStatus("input.status"))},
          ttfb_ms = input.ttfb_ms, load_ms = input.load_ms,
          prompt_eval_ms = input.prompt_eval_ms, eval_ms = input.eval_ms,
          upstream = input.upstream
        FROM prior JOIN input ON input.request_id = prior.id
        WHERE request_log.id = prior.id
        RETURNING prior.key_id, prior.group_id, prior.member_id, prior.day, prior.minute,
          prior.minute_scopes,
          CASE WHEN prior.state = 'pending' THEN prior.reserved_tokens ELSE 0 END AS released,
          CASE WHEN request_log.charged THEN 0 ELSE 1 END AS back,
          request_log.prompt_tokens, request_log.completion_tokens,
          prior.state AS prior_state, request_log.bucket, request_log.model, request_log.route,
          COALESCE(request_log.upstream, '') AS upstream,
          COALESCE(prior.upstream, '') AS prior_upstream, request_log.outcome,
          request_log.refused_by, request_log.charged, request_log.estimated,
          request_log.duration_ms, request_log.ttfb_ms, request_log.load_ms,
          request_log.prompt_eval_ms, request_log.eval_ms
      ), owners AS (
        SELECT 'key' AS scope, key_id AS owner_id, day, minute, (minute_scopes & 1) <> 0 AS pm,
               released, back, prompt_tokens, completion_tokens FROM logged
        UNION ALL
        SELECT 'group', group_id, day, minute, (minute_scopes & 2) <> 0, released, back,
               prompt_tokens, completion_tokens FROM logged WHERE group_id IS NOT NULL
        UNION ALL
        SELECT 'member', member_id, day, minute, (minute_scopes & 4) <> 0, released, back,
               prompt_tokens, completion_tokens FROM logged WHERE member_id IS NOT NULL
      ), deltas AS (
        SELECT scope, owner_id, 'day' AS period, day AS bucket, SUM(released) AS released,
               SUM(back) AS back, SUM(prompt_tokens) AS prompt_tokens,
               SUM(completion_tokens) AS completion_tokens
          FROM owners GROUP BY scope, owner_id, day
        UNION ALL
        SELECT scope, owner_id, 'minute', minute, SUM(released), SUM(back), SUM(prompt_tokens),
               SUM(completion_tokens)
          FROM owners WHERE pm GROUP BY scope, owner_id, minute
      ), locked AS (
        SELECT c.scope, c.owner_id, c.period, c.bucket
          FROM usage_counters c JOIN deltas USING (scope, owner_id, period, bucket)
         ORDER BY c.scope COLLATE "C", c.owner_id, c.period COLLATE "C", c.bucket COLLATE "C"
         FOR UPDATE OF c
      ), counted AS (
        UPDATE usage_counters SET
          reserved_tokens = usage_counters.reserved_tokens - deltas.released,
          requests = usage_counters.requests - deltas.back,
          prompt_tokens = usage_counters.prompt_tokens + deltas.prompt_tokens,
          completion_tokens = usage_counters.completion_tokens + deltas.completion_tokens
        FROM deltas JOIN locked USING (scope, owner_id, period, bucket)
        WHERE usage_counters.scope = deltas.scope AND usage_counters.owner_id = deltas.owner_id
          AND usage_counters.period = deltas.period AND usage_counters.bucket = deltas.bucket
        RETURNING 1
      ${
      this.#writeRollups
        ? this.#sql.unsafe(SETTLED_ROLLUP_CTES)
        : this.#sql.unsafe(")\n      SELECT COUNT(*) FROM counted")
    }`;
  }

  async heartbeat(instanceId: string, at: string): Promise<void> {
    await this.#sql`
      INSERT INTO gateway_instances (id, seen_at) VALUES (${instanceId}, ${at})
      ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`;
  }

  async releaseStale(cutoffs: StaleCutoffs): Promise<number> {
    return await this.#sql.begin(async (tx) => {
      // SKIP LOCKED: another gateway reaping at the same moment takes the other rows. Counter
      // rows are then updated once each, in primary-key order, the order admission and
      // settlement batches lock them in, so a reaper and a batch cannot deadlock.
      const stale = await tx`
        SELECT id, key_id, group_id, member_id, day, minute, minute_scopes, reserved_tokens,
               bucket, started_at, model, route, upstream
          FROM request_log
         WHERE state = 'pending' AND (started_at < ${cutoffs.startedBefore} OR instance_id IN
           (SELECT id FROM gateway_instances WHERE seen_at < ${cutoffs.silentSince}))
         ORDER BY id
         FOR UPDATE SKIP LOCKED`;
      if (stale.length > 0) {
        const rows = new Map<string, CounterAdd>();
        for (const row of stale) {
          for (const o of ledgerOwners(row)) {
            const periods: Array<["day" | "minute", string]> = [["day", row.day]];
            if (o.minute) periods.push(["minute", row.minute]);
            for (const [period, bucket] of periods) {
              const at = `${o.scope}\u0000${o.id}\u0000${period}\u0000${bucket}`;
              const c = rows.get(at) ??
                { scope: o.scope, id: o.id, period, bucket, requests: 0, reserved: 0 };
              c.reserved += Number(row.reserved_tokens);
              rows.set(at, c);
            }
          }
        }
        const counters = [...rows.values()].sort(byCounterKey);
        const cc = <T>(f: (c: CounterAdd) => T) => counters.map(f);
        await tx`
          WITH released AS (
            SELECT * FROM unnest(${cc((c) => c.scope)}::text[], ${cc((c) => c.id)}::bigint[],
              ${cc((c) => c.period)}::text[], ${cc((c) => c.bucket)}::text[],
              ${cc((c) => c.reserved)}::bigint[])
              AS r(scope, owner_id, period, bucket, tokens)
          ), locked AS (
            SELECT c.scope, c.owner_id, c.period, c.bucket
              FROM usage_counters c JOIN released USING (scope, owner_id, period, bucket)
             ORDER BY c.scope COLLATE "C", c.owner_id, c.period COLLATE "C", c.bucket COLLATE "C"
             FOR UPDATE OF c
          )
          UPDATE usage_counters SET reserved_tokens = reserved_tokens - released.tokens
            FROM released JOIN locked USING (scope, owner_id, period, bucket)
           WHERE usage_counters.scope = released.scope
             AND usage_counters.owner_id = released.owner_id
             AND usage_counters.period = released.period
             AND usage_counters.bucket = released.bucket`;
        await tx`
          UPDATE request_log SET state = 'abandoned', charged = TRUE, estimated = TRUE,
            outcome = 'abandoned'
           WHERE id = ANY(${stale.map((row) => row.id)}::bigint[])`;
        const rollups = new RollupBatch();
        for (const row of stale) rollups.add(rollupKeyOf(row), rollupOf(ABANDONED));
        if (this.#writeRollups) await tx.unsafe(ROLLUP_JSON_UPSERT, [rollupJson(rollups)]);
      }
      // Leases on boxes of a gateway that died (or that are far too old) free their slots.
      await tx`
        DELETE FROM upstream_leases
         WHERE taken_at < ${cutoffs.startedBefore} OR instance_id IN
           (SELECT id FROM gateway_instances WHERE seen_at < ${cutoffs.silentSince})`;
      // Minutes long past are never read again; silent gateways' rows have nothing left.
      await tx`
        DELETE FROM usage_counters
         WHERE period = 'minute' AND bucket < ${cutoffs.minutesBefore.slice(0, 16)}`;
      await tx`
        DELETE FROM gateway_instances WHERE seen_at < ${cutoffs.silentSince} AND id NOT IN
          (SELECT instance_id FROM request_log
            WHERE state = 'pending' AND instance_id IS NOT NULL)`;
      return stale.length;
    });
  }

  async listUpstreams(): Promise<StoredUpstream[]> {
    return (await this.#sql`SELECT * FROM upstreams ORDER BY id`).map(toUpstream);
  }

  async getUpstream(id: number): Promise<StoredUpstream | null> {
    const [row] = await this.#sql`SELECT * FROM upstreams WHERE id = ${id}`;
    return row ? toUpstream(row) : null;
  }

  async createUpstream(u: NewUpstream): Promise<StoredUpstream> {
    return await this.#insertUpstream(this.#sql, u);
  }

  async #insertUpstream(sql: Sql, u: NewUpstream): Promise<StoredUpstream> {
    const [row] = await sql`
      INSERT INTO upstreams (name, url, token, enabled, max_in_flight, created_at, updated_at)
      VALUES (${u.name}, ${u.url}, ${u.token_sealed}, ${u.enabled}, ${u.max_in_flight},
        ${u.created_at}, ${u.updated_at})
      RETURNING *`;
    return toUpstream(row);
  }

  async updateUpstream(id: number, patch: UpstreamPatch): Promise<StoredUpstream | null> {
    // A null token or max_in_flight is a value to store, so "unchanged" travels as a flag.
    const [row] = await this.#sql`
      UPDATE upstreams SET
        name = COALESCE(${patch.name ?? null}, name),
        url = COALESCE(${patch.url ?? null}, url),
        token = CASE WHEN ${patch.token_sealed !== undefined}::boolean THEN ${
      patch.token_sealed ?? null
    }
                ELSE token END,
        enabled = COALESCE(${patch.enabled ?? null}::boolean, enabled),
        max_in_flight = CASE WHEN ${patch.max_in_flight !== undefined}::boolean
                        THEN ${patch.max_in_flight ?? null}::integer ELSE max_in_flight END,
        updated_at = ${patch.updated_at}
      WHERE id = ${id}
      RETURNING *`;
    return row ? toUpstream(row) : null;
  }

  async deleteUpstream(id: number): Promise<boolean> {
    const rows = await this.#sql`DELETE FROM upstreams WHERE id = ${id} RETURNING id`;
    return rows.length > 0;
  }

  async seedUpstreams(rows: ReadonlyArray<NewUpstream>): Promise<boolean> {
    return await this.#sql.begin(async (tx) => {
      // The marker's insert decides: a second gateway starting now waits for it, then skips.
      const marked = await tx`
        INSERT INTO settings (name, value) VALUES (${UPSTREAMS_SEEDED}, ${new Date().toISOString()})
        ON CONFLICT (name) DO NOTHING RETURNING name`;
      if (marked.length === 0) return false;
      for (const row of rows) await this.#insertUpstream(tx as unknown as Sql, row);
      return true;
    });
  }

  async takeUpstreamLease(
    upstreamId: number,
    instanceId: string,
    limit: number | null,
  ): Promise<number | null> {
    const [row] = await this.#sql`
      SELECT llmq_take_upstream_lease(${upstreamId}, ${instanceId}, ${limit}::integer) AS lease`;
    return row.lease === null ? null : Number(row.lease);
  }

  async releaseUpstreamLease(leaseId: number): Promise<void> {
    await this.#sql`DELETE FROM upstream_leases WHERE id = ${leaseId}`;
  }

  async releaseInstanceLeases(instanceId: string): Promise<number> {
    const rows = await this.#sql`
      DELETE FROM upstream_leases WHERE instance_id = ${instanceId} RETURNING id`;
    return rows.length;
  }

  async upstreamLeaseCounts(): Promise<Map<number, number>> {
    const rows = await this.#sql`
      SELECT upstream_id, count(*) AS n FROM upstream_leases GROUP BY upstream_id`;
    return new Map(rows.map((r) => [Number(r.upstream_id), Number(r.n)]));
  }

  async audit(): Promise<AuditDifference[]> {
    // Constant SQL without values; NUMERIC sums arrive as strings, which auditDifferences reads.
    return auditDifferences(await this.#sql.unsafe(AUDIT_SQL));
  }

  #query(q: Query): Promise<Record<string, unknown>[]> {
    // Statement text from db/analytics_sql.ts's fixed fragments; every value is a parameter.
    return this.#sql.unsafe(q.sql, q.params as postgres.ParameterOrJSON<never>[]) as Promise<
      Record<string, unknown>[]
    >;
  }

  /** The rows of a statement as arrays, in SELECT order (no object per row). */
  async #values(q: Query): Promise<unknown[][]> {
    // Statement text from db/analytics_sql.ts's fixed fragments; every value is a parameter.
    return await this.#sql.unsafe(q.sql, q.params as postgres.ParameterOrJSON<never>[])
      .values() as unknown[][];
  }

  async auditRollups(): Promise<RollupDifference[]> {
    // One snapshot for every read: a settlement committing between the ledger's read and the
    // rollups' would look like a difference.
    return await this.#sql.begin(
      "ISOLATION LEVEL REPEATABLE READ READ ONLY",
      (tx) =>
        auditRollups(
          "postgres",
          (q) =>
            tx.unsafe(q.sql, q.params as postgres.ParameterOrJSON<never>[]) as Promise<
              Record<string, unknown>[]
            >,
        ),
    );
  }

  usage(q: UsageQuery): Promise<UsageRow[]> {
    return readUsage("postgres", q, {
      all: (query) => this.#query(query),
      values: (query) => this.#values(query),
    });
  }

  async requestLog(q: RequestQuery): Promise<RequestRow[]> {
    return (await this.#values(requestLogQuery("postgres", q))).map(toRequestRow);
  }

  maintainAnalytics(m: AnalyticsMaintenance): Promise<MaintenanceResult> {
    return runMaintenance("postgres", m, {
      // Once per cluster: a session lock on a reserved connection; a gateway that does not get
      // it skips this run (another one is doing the work). Every statement runs on that same
      // connection: with DB_POOL_SIZE=1 the pool has no other to give.
      exclusive: async (fn) => {
        const conn = await reserveConnection(this.#sql);
        let usable = true;
        try {
          const [{ got }] = await conn`SELECT pg_try_advisory_lock(${MAINTENANCE_LOCK}) AS got`;
          if (!got) return null;
          try {
            return await fn({
              read: (q) => conn.unsafe(q.sql, q.params as postgres.ParameterOrJSON<never>[]),
              write: async (qs) => {
                let n = 0;
                await conn`BEGIN`;
                try {
                  for (const q of qs) {
                    n += (await conn.unsafe(q.sql, q.params as postgres.ParameterOrJSON<never>[]))
                      .count;
                  }
                  await conn`COMMIT`;
                } catch (err) {
                  usable = connectionUsable(err);
                  if (usable) await conn`ROLLBACK`;
                  throw err;
                }
                return n;
              },
            });
          } finally {
            if (usable) await conn`SELECT pg_advisory_unlock(${MAINTENANCE_LOCK})`;
          }
        } finally {
          // A connection that went away is left alone: the pool has already taken it back.
          if (usable) conn.release();
        }
      },
    });
  }
}
