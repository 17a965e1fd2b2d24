/**
 * SQLite adapter (node:sqlite). Writes run in `BEGIN IMMEDIATE` transactions in WAL mode, so
 * admission is serialised across every process that opens the same file.
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { setImmediate } from "node:timers";
import { dirname, resolve } from "node:path";
import { DATABASE_URL_FORMS } from "../core/config.ts";
import { sqliteMigrations } from "./migrations/sqlite.ts";
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
  type Ask,
  emptySnapshot,
  retriableWithEstimate,
  type Scope,
  type Snapshot,
} from "../core/admission.ts";
import {
  ABANDONED,
  bucketOf,
  endingOf,
  type RollupIncrement,
  rollupOf,
} from "../core/analytics/rollup.ts";
import { RefusalLogCap, RefusedModelCap } from "../core/analytics/refusal_cap.ts";
import { runMaintenance } from "./maintenance.ts";
import { SqliteCheckpointer } from "./sqlite_checkpointer.ts";
import { writesLastUse } from "../core/api_keys.ts";
import { readUsage } from "./usage_read.ts";
import {
  refusedFacts,
  RollupBatch,
  type RollupKey,
  rollupKeyOf,
  settledFacts,
  toRequestRow,
} from "./rollup_rows.ts";
import { COUNTER_LIST, upsertSet } from "./rollup_sql.ts";
import { type Query, requestLogQuery } from "./analytics_sql.ts";
import { auditRollups } from "./rollup_audit.ts";
import { ROLLUP_COLUMNS } from "../core/analytics/rollup.ts";
import type { NewUpstream, StoredUpstream, UpstreamPatch } from "../core/upstreams/records.ts";
import { admissionDecision, type Owners, scopesFor, scopesNeed } from "../core/scopes.ts";
import type { Decision } from "../core/admission.ts";
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
import { type CounterChanges, counterChanges, type PriorState } from "../core/settlement.ts";
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

/** The ledger column naming each scope's owner (for requests in flight). */
const IN_FLIGHT_COLUMN: Record<Scope, string> = {
  key: "key_id",
  group: "group_id",
  member: "member_id",
};

/** Turns `sqlite:///relative/path` or `sqlite:////absolute/path` into a file path. */
export function sqlitePath(url: string): string {
  const match = /^sqlite:\/\/\/(.+)$/.exec(url);
  if (!match) {
    throw new Error(`Cannot parse DATABASE_URL: expected ${DATABASE_URL_FORMS}`);
  }
  return match[1];
}

type Row = Record<string, SQLInputValue>;

/** How a store is opened. */
export interface StoreOptions {
  /** Write the usage rollups (default). False only to measure what they cost (bench/). */
  writeRollups?: boolean;
  /** Checkpoint the WAL in a worker, off the request path (default, file databases only). */
  checkpointWorker?: boolean;
  /** How often the worker checkpoints (ms; tests shorten it). */
  checkpointIntervalMs?: number;
  /** WAL frames past which the WAL is started over (tests lower it). */
  checkpointRestartFrames?: number;
  /** How long without a report makes the worker silent (ms; default two intervals; tests). */
  checkpointSilentAfterMs?: number;
}

const COUNTER_PLACEHOLDERS = ROLLUP_COLUMNS.map(() => "?").join(", ");
/** One settlement's (refusal's, abandonment's) increment of its 15-minute rollup row. */
const ROLLUP_UPSERT = `
INSERT INTO usage_15m (bucket, key_id, model, route, group_id, member_id, upstream, ${COUNTER_LIST})
VALUES (?, ?, ?, ?, ?, ?, ?, ${COUNTER_PLACEHOLDERS})
ON CONFLICT (key_id, bucket, model, route, group_id, member_id, upstream)
DO UPDATE SET ${upsertSet("usage_15m")}`;
/** The same increment of the key-less rollup row. */
const ROLLUP_ALL_UPSERT = `
INSERT INTO usage_15m_all (bucket, model, route, upstream, ${COUNTER_LIST})
VALUES (?, ?, ?, ?, ${COUNTER_PLACEHOLDERS})
ON CONFLICT (bucket, model, route, upstream) DO UPDATE SET ${upsertSet("usage_15m_all")}`;
/** The same increment of the per-day rows of every compacted day its bucket is in. */
const DAY_UPSERT = `
INSERT INTO usage_day (tz, day, key_id, model, route, group_id, member_id, upstream,
  ${COUNTER_LIST})
SELECT tz, day, ?, ?, ?, ?, ?, ?, ${COUNTER_PLACEHOLDERS}
  FROM usage_compacted WHERE ? >= from_ms AND ? < to_ms
ON CONFLICT (key_id, tz, day, model, route, group_id, member_id, upstream)
DO UPDATE SET ${upsertSet("usage_day")}`;
/** The same for the key-less per-day rows. */
const DAY_ALL_UPSERT = `
INSERT INTO usage_day_all (tz, day, model, route, upstream, ${COUNTER_LIST})
SELECT tz, day, ?, ?, ?, ${COUNTER_PLACEHOLDERS}
  FROM usage_compacted WHERE ? >= from_ms AND ? < to_ms
ON CONFLICT (tz, day, model, route, upstream) DO UPDATE SET ${upsertSet("usage_day_all")}`;
/** The ledger columns a settlement reads. */
const SETTLE_READS = `key_id, group_id, member_id, day, minute, minute_scopes, reserved_tokens,
  bucket, started_at, model, route, upstream`;
/** A settlement's facts on its ledger row (the statement text is the statement cache's key). */
const SETTLE_ROW = `UPDATE request_log SET state = 'settled', charged = ?, status = ?,
  prompt_tokens = ?, completion_tokens = ?, estimated = ?, duration_ms = ?, outcome = ?,
  ttfb_ms = ?, load_ms = ?, prompt_eval_ms = ?, eval_ms = ?, upstream = ?
  WHERE id = ?`;
/** The same for a pending row only, reading what the settlement needs. */
const SETTLE_PENDING_ROW = `${SETTLE_ROW} AND state = 'pending' RETURNING ${SETTLE_READS}`;

/** A store call this soon after the last group transaction is grouped with any that follow. */
const QUIET_MS = 1;
type Job = { work: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void };
type JobResult = { ok: boolean; value: unknown };

/** Opens (creating when needed) the SQLite database at a sqlite:/// URL. */
export function openSqliteStore(url: string, options: StoreOptions = {}): SqliteStore {
  const path = sqlitePath(url);
  if (path === ":memory:") return new SqliteStore(new DatabaseSync(path), options);
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    throw new Error(sqliteOpenProblem(path, err, "folder"));
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (err) {
    throw new Error(sqliteOpenProblem(path, err, "file"));
  }
  return new SqliteStore(db, options, path);
}

/**
 * Why the SQLite file (or its folder) cannot be opened, naming the path and what to do, instead
 * of Deno's "run again with the --allow-all flag" (its answer for /proc, /sys and /dev).
 */
function sqliteOpenProblem(path: string, err: unknown, what: "folder" | "file"): string {
  const abs = resolve(path);
  const fix = "set DATABASE_URL to a file in a writable folder, e.g. sqlite:///./data/llm-quota.db";
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    return `SQLite database ${abs} (DATABASE_URL): the path is not writable; ${fix}`;
  }
  const reason = (err as { code?: string }).code === "ENOTDIR" ||
      (err as { code?: string }).code === "EEXIST"
    ? `part of ${dirname(abs)} is a file, not a folder`
    : what === "folder"
    ? `its folder ${dirname(abs)} cannot be created (${(err as Error).message})`
    : `the file cannot be created or opened (is ${dirname(abs)} a writable folder?)`;
  return `SQLite database ${abs} (DATABASE_URL): ${reason}; ${fix}`;
}

/** The SQLite implementation of Store. */
export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  #db: DatabaseSync;
  #cache = new Map<string, StatementSync>();
  /** Statements that return rows as arrays (setReturnArrays), apart: the flag is per statement. */
  #arrayCache = new Map<string, StatementSync>();
  /** Admissions and settlements waiting for the next group transaction. */
  #queue: Job[] = [];
  #lastFlush = -Infinity;
  /** How many jobs the last group transaction ran. */
  #lastGroup = 0;
  /** A group transaction ended in this turn of the event loop (reset by the next turn). */
  #flushedThisTurn = false;
  /** Refusal rows this process may still log per key this minute. */
  #refusalCap = new RefusalLogCap();
  /** Refused model names this process still counts by name per key this bucket. */
  #refusedModels = new RefusedModelCap();
  /** Rollup increments of the group-transaction job running now (see #rollup). */
  #jobRollups: RollupBatch | null = null;

  /** End (UTC ms) of the last compacted day, null until read or after maintenance wrote. */
  #compactedTo: number | null = null;

  /** False only in the benchmark's "before" run (bench/analytics.ts): no rollup writes. */
  #writeRollups: boolean;

  /** Admission's keys, rebuilt only when their row changed. */
  #admittedKeys = new ApiKeyMemo();

  /** The worker checkpointing this file's WAL (null: in memory, or autocheckpoint kept). */
  #checkpointer: SqliteCheckpointer | null = null;

  /** `path`: the database file, when there is one (a checkpoint worker opens it too). */
  constructor(db: DatabaseSync, options: StoreOptions = {}, path?: string) {
    this.#db = db;
    this.#writeRollups = options.writeRollups ?? true;
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA busy_timeout = 10000");
    db.exec("PRAGMA foreign_keys = ON");
    // Savepoints of grouped jobs keep their undo records in memory, not in temp files.
    db.exec("PRAGMA temp_store = MEMORY");
    if (path !== undefined && (options.checkpointWorker ?? true)) {
      this.#checkpointer = SqliteCheckpointer.start(db, path, {
        intervalMs: options.checkpointIntervalMs,
        restartFrames: options.checkpointRestartFrames,
        silentAfterMs: options.checkpointSilentAfterMs,
      });
    }
  }

  #stmt(sql: string): StatementSync {
    let s = this.#cache.get(sql);
    if (!s) this.#cache.set(sql, s = this.#db.prepare(sql));
    return s;
  }

  /** The rows of a statement as arrays, in SELECT order (no object per row). */
  #values(q: Query): unknown[][] {
    let s = this.#arrayCache.get(q.sql);
    if (!s) {
      this.#arrayCache.set(q.sql, s = this.#db.prepare(q.sql));
      // In node:sqlite (and Deno's) at runtime; @types/node of this Deno does not declare it.
      (s as StatementSync & { setReturnArrays(on: boolean): void }).setReturnArrays(true);
    }
    return s.all(...(q.params as SQLInputValue[])) as unknown as unknown[][];
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#stmt(sql).get(...params) as Row | undefined;
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#stmt(sql).all(...params) as Row[];
  }

  #run(sql: string, ...params: SQLInputValue[]) {
    return this.#stmt(sql).run(...params);
  }

  /** Runs `fn` in a write transaction taken at once, so no other writer can interleave. */
  #write<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  /**
   * Group commit for the hot path. Each write transaction costs a lock round, WAL frames for
   * every page it touches and, now and then, a checkpoint on the event loop; under load most of
   * an admission's cost. So admissions and settlements that arrive while the event loop is busy
   * are queued and run, in arrival order, in ONE `BEGIN IMMEDIATE` transaction when it turns
   * (setImmediate: microseconds when idle). Each job reads what the jobs before it wrote, and
   * fails alone (#runGroup); none is answered before the transaction committed, so exactness is
   * that of one transaction per job.
   */
  #grouped<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const first = this.#queue.push({ work, resolve, reject } as Job) === 1;
      if (!first) return;
      // A quiet gateway (one request at a time) would only wait for the turn: it runs at once.
      // After a group of several, the loop is busy even when the last one ended a while ago (a
      // burst of answers that came in together): running the burst's first job alone at once
      // made every second transaction one of a single job (bench/README.md, round six). And a
      // call in the same turn as a transaction that just ran is not quiet either, however long
      // that transaction took: otherwise calls after a slow one would each run alone.
      const quiet = this.#lastGroup <= 1 && !this.#flushedThisTurn &&
        performance.now() - this.#lastFlush > QUIET_MS;
      if (quiet) this.#flush();
      else setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const jobs = this.#queue;
    this.#queue = [];
    if (jobs.length === 0) return;
    this.#lastFlush = performance.now();
    this.#lastGroup = jobs.length;
    let results: JobResult[];
    try {
      // Jobs rarely fail, and a SAVEPOINT and RELEASE around each would be a third of a
      // group's statements: the group runs without them, and only when one of its jobs fails
      // is all of it rolled back and run again with a savepoint per job, so that job fails alone.
      results = this.#runGroup(jobs, false) ?? this.#runGroup(jobs, true)!;
    } catch (err) {
      // The transaction itself failed (locked past busy_timeout, disk, closed): nothing of it
      // was recorded, so every job of the group fails.
      for (const job of jobs) job.reject(err);
      return;
    }
    jobs.forEach((job, i) =>
      results[i].ok ? job.resolve(results[i].value) : job.reject(results[i].value)
    );
    if (!this.#flushedThisTurn) {
      this.#flushedThisTurn = true;
      setImmediate(() => this.#flushedThisTurn = false);
    }
    // After the answers went on: the WAL is restarted between two transactions, never in one.
    if (this.#checkpointer?.committed()) setImmediate(() => this.#checkpointer?.catchUp());
  }

  /**
   * Runs `jobs` in one transaction and returns what each gave. With `isolate` each runs in its
   * own savepoint and a failing one fails alone; without, a failing job (of several) rolls the
   * transaction back and the answer is null, to run them again isolated. The jobs only read and
   * write the database (a second run recomputes the same), except that a refusal they log may
   * count twice towards RefusalLogCap's per-minute rows: one row fewer logged, counts exact.
   * Throws when the transaction itself failed.
   */
  #runGroup(jobs: Job[], isolate: boolean): JobResult[] | null {
    const results: JobResult[] = [];
    const rollups = new RollupBatch();
    // A job's rollup increments join the transaction's only once the job succeeded.
    const run = (job: Job) => {
      this.#jobRollups = new RollupBatch();
      try {
        const value = job.work();
        rollups.merge(this.#jobRollups);
        return value;
      } finally {
        this.#jobRollups = null;
      }
    };
    try {
      this.#write(() => {
        for (const job of jobs) {
          if (!isolate) {
            results.push({ ok: true, value: run(job) });
            continue;
          }
          this.#run("SAVEPOINT job");
          try {
            results.push({ ok: true, value: run(job) });
          } catch (err) {
            this.#run("ROLLBACK TO job");
            results.push({ ok: false, value: err });
          }
          this.#run("RELEASE job");
        }
        // In the same transaction as the jobs: should it fail, none of them is recorded.
        this.#writeRollupBatch(rollups);
      });
    } catch (err) {
      // A job threw before all had run: rolled back, to be run again with savepoints. A lone
      // job's failure is its own, and a failure after every job ran is the transaction's.
      if (!isolate && jobs.length > 1 && results.length < jobs.length) return null;
      throw err;
    }
    return results;
  }

  migrate(): Promise<void> {
    this.#write(() => {
      this.#db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
      );
      const done = new Set(
        this.#db.prepare("SELECT version FROM schema_migrations").all().map((r) =>
          Number(r.version)
        ),
      );
      for (const m of sqliteMigrations) {
        if (done.has(m.version)) continue;
        this.#db.exec(m.sql);
        this.#db.prepare(
          "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        )
          .run(m.version, m.name, new Date().toISOString());
      }
    });
    // Statements prepared before a migration may name dropped columns.
    this.#cache.clear();
    this.#arrayCache.clear();
    return Promise.resolve();
  }

  pendingMigrations(): Promise<number[]> {
    const applied = new Set(
      this.#all("SELECT version FROM schema_migrations").map((r) => Number(r.version)),
    );
    return Promise.resolve(
      sqliteMigrations.map((m) => m.version).filter((v) => !applied.has(v)),
    );
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#flush();
    // The worker's last checkpoint runs while the queue is empty; then nothing is left running.
    await this.#checkpointer?.stop();
    this.#checkpointer = null;
    if (this.#db.isOpen) {
      // Anything queued while the worker stopped runs before the connection goes.
      this.#flush();
      this.#db.close();
    }
  }

  seedSettings(defaults: Record<string, string>): Promise<void> {
    this.#write(() => {
      for (const [name, value] of Object.entries(defaults)) {
        this.#run(
          "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
          name,
          value,
        );
      }
    });
    return Promise.resolve();
  }

  getSettings(): Promise<Record<string, string>> {
    const rows = this.#all("SELECT name, value FROM settings");
    return Promise.resolve(Object.fromEntries(rows.map((r) => [String(r.name), String(r.value)])));
  }

  updateSettings(patch: Record<string, string>): Promise<Record<string, string>> {
    this.#write(() => {
      for (const [name, value] of Object.entries(patch)) {
        this.#run(
          "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
          name,
          value,
        );
      }
    });
    return this.getSettings();
  }

  createKey(k: NewApiKey): Promise<ApiKey> {
    const row = this.#get(
      `INSERT INTO api_keys (name, prefix, key_hash, active, created_at, expires_at, policy,
         group_id, delegation)
       VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?) RETURNING *`,
      k.name,
      k.prefix,
      k.key_hash,
      k.created_at,
      k.expires_at,
      policyToJson(k.policy),
      k.group_id ?? null,
      delegationToJson(k.delegation),
    );
    return Promise.resolve(toApiKey(row!));
  }

  listKeys(): Promise<ApiKey[]> {
    return Promise.resolve(
      this.#all("SELECT * FROM api_keys WHERE deleted_at IS NULL ORDER BY id").map(toApiKey),
    );
  }

  getKey(id: number): Promise<ApiKey | null> {
    const row = this.#get("SELECT * FROM api_keys WHERE id = ? AND deleted_at IS NULL", id);
    return Promise.resolve(row ? toApiKey(row) : null);
  }

  findKeyByHash(hash: string): Promise<ApiKey | null> {
    const row = this.#get(
      "SELECT * FROM api_keys WHERE key_hash = ? AND deleted_at IS NULL",
      hash,
    );
    return Promise.resolve(row ? toApiKey(row) : null);
  }

  updateKey(id: number, patch: ApiKeyPatch): Promise<ApiKey | null> {
    const columns = PATCHABLE_COLUMNS.filter((c) => patch[c] !== undefined);
    if (columns.length === 0) return this.getKey(id);
    const values = columns.map((c): SQLInputValue => {
      if (c === "policy") return policyToJson(patch.policy!);
      if (c === "delegation") return delegationToJson(patch.delegation);
      const v = patch[c];
      return typeof v === "boolean" ? (v ? 1 : 0) : v as SQLInputValue;
    });
    const row = this.#get(
      `UPDATE api_keys SET ${columns.map((c) => `${c} = ?`).join(", ")}
        WHERE id = ? AND deleted_at IS NULL RETURNING *`,
      ...values,
      id,
    );
    return Promise.resolve(row ? toApiKey(row) : null);
  }

  deleteKey(id: number): Promise<boolean> {
    const changes = this.#run(
      "UPDATE api_keys SET deleted_at = ?, active = 0 WHERE id = ? AND deleted_at IS NULL",
      new Date().toISOString(),
      id,
    ).changes;
    return Promise.resolve(changes > 0);
  }

  createGroup(name: string, policy: Policy, createdAt: string): Promise<Group> {
    const row = this.#get(
      "INSERT INTO key_groups (name, policy, created_at) VALUES (?, ?, ?) RETURNING *",
      name,
      policyToJson(policy),
      createdAt,
    );
    return Promise.resolve(toGroup(row!));
  }

  listGroups(): Promise<Group[]> {
    return Promise.resolve(this.#all("SELECT * FROM key_groups ORDER BY id").map(toGroup));
  }

  getGroup(id: number): Promise<Group | null> {
    const row = this.#get("SELECT * FROM key_groups WHERE id = ?", id);
    return Promise.resolve(row ? toGroup(row) : null);
  }

  updateGroup(id: number, patch: { name?: string; policy?: Policy }): Promise<Group | null> {
    const row = this.#get(
      `UPDATE key_groups SET name = COALESCE(?, name), policy = COALESCE(?, policy)
        WHERE id = ? RETURNING *`,
      patch.name ?? null,
      patch.policy ? policyToJson(patch.policy) : null,
      id,
    );
    return Promise.resolve(row ? toGroup(row) : null);
  }

  deleteGroup(id: number, force: boolean): Promise<"deleted" | "missing" | "has_keys"> {
    return Promise.resolve(this.#write(() => {
      if (!this.#get("SELECT id FROM key_groups WHERE id = ?", id)) return "missing";
      const members = this.#get(
        "SELECT COUNT(*) AS n FROM api_keys WHERE group_id = ? AND deleted_at IS NULL",
        id,
      )!;
      if (Number(members.n) > 0 && !force) return "has_keys";
      // Deleted keys keep their ledger rows; they lose the group they were in, as live keys do.
      this.#run("UPDATE api_keys SET group_id = NULL WHERE group_id = ?", id);
      this.#run("DELETE FROM key_groups WHERE id = ?", id);
      return "deleted";
    }));
  }

  memberFor(
    keyId: number,
    person: { external_id: string; email: string | null; name: string | null; role: string | null },
    seenAt: string,
  ): Promise<Member> {
    return this.#grouped(() => {
      const row = this.#get(
        `INSERT INTO key_members (key_id, external_id, email, name, role, created_at, last_seen_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key_id, external_id) DO UPDATE SET email = excluded.email,
           name = excluded.name, role = excluded.role, last_seen_at = excluded.last_seen_at
         RETURNING *`,
        keyId,
        person.external_id,
        person.email,
        person.name,
        person.role,
        seenAt,
        seenAt,
      );
      return toMember(row!);
    });
  }

  listMembers(keyId: number): Promise<Member[]> {
    return Promise.resolve(
      this.#all("SELECT * FROM key_members WHERE key_id = ? ORDER BY id", keyId).map(toMember),
    );
  }

  updateMember(
    keyId: number,
    memberId: number,
    patch: { blocked?: boolean; limits?: Limit[] | null },
  ): Promise<Member | null> {
    const sets: string[] = [];
    const values: SQLInputValue[] = [];
    if (patch.blocked !== undefined) {
      sets.push("blocked = ?");
      values.push(patch.blocked ? 1 : 0);
    }
    if (patch.limits !== undefined) {
      sets.push("limits = ?");
      values.push(patch.limits === null ? null : JSON.stringify(patch.limits));
    }
    const row = sets.length === 0
      ? this.#get("SELECT * FROM key_members WHERE id = ? AND key_id = ?", memberId, keyId)
      : this.#get(
        `UPDATE key_members SET ${sets.join(", ")} WHERE id = ? AND key_id = ? RETURNING *`,
        ...values,
        memberId,
        keyId,
      );
    return Promise.resolve(row ? toMember(row) : null);
  }

  usageByOwner(scope: Scope, w: WindowKeys): Promise<Map<number, KeyUsage>> {
    const rows = this.#all(
      `SELECT owner_id, 'day' AS window, requests, prompt_tokens, completion_tokens
         FROM usage_counters WHERE scope = ? AND period = 'day' AND bucket = ?
       UNION ALL
       SELECT owner_id, 'month' AS window, SUM(requests) AS requests,
              SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens
         FROM usage_counters
        WHERE scope = ? AND period = 'day' AND bucket >= ? AND bucket < ? GROUP BY owner_id`,
      scope,
      w.day,
      scope,
      w.monthStart,
      w.monthEnd,
    );
    return Promise.resolve(toUsageMap(rows));
  }

  snapshots(
    owners: ReadonlyArray<{ scope: Scope; id: number }>,
    w: WindowKeys,
  ): Promise<Map<string, Snapshot>> {
    const rows: Row[] = [];
    const flights: Array<Record<string, unknown>> = [];
    for (const o of owners) {
      rows.push(...this.#all(
        `SELECT scope, owner_id, period, bucket, requests,
                prompt_tokens + completion_tokens AS tokens, reserved_tokens
           FROM usage_counters
          WHERE scope = ? AND owner_id = ?
            AND ((period = 'day' AND bucket >= ? AND bucket < ?)
              OR (period = 'minute' AND bucket = ?))`,
        o.scope,
        o.id,
        w.monthStart,
        w.monthEnd,
        w.minute,
      ));
      flights.push({
        scope: o.scope,
        owner_id: o.id,
        in_flight: this.#get(
          `SELECT COUNT(*) AS n FROM request_log WHERE ${
            IN_FLIGHT_COLUMN[o.scope]
          } = ? AND state = 'pending'`,
          o.id,
        )!.n,
      });
    }
    const out = snapshotsFromRows(rows, w);
    addInFlight(out, flights);
    return Promise.resolve(out);
  }

  pendingUsage(keyId: number): Promise<DayModelUsage[]> {
    return Promise.resolve(
      this.#all(PENDING_USAGE_SQL.replace(/\$\d/g, "?"), keyId).map(toDayModelUsage),
    );
  }

  liveUsageByKey(minute: string): Promise<Map<number, LiveUsage>> {
    const rows = this.#all(
      `SELECT key_id, COUNT(*) AS in_flight, 0 AS minute_requests, 0 AS minute_tokens
         FROM request_log WHERE state = 'pending' GROUP BY key_id
       UNION ALL
       SELECT owner_id, 0, requests, prompt_tokens + completion_tokens + reserved_tokens
         FROM usage_counters WHERE scope = 'key' AND period = 'minute' AND bucket = ?`,
      minute,
    );
    return Promise.resolve(toLiveUsageMap(rows));
  }

  /**
   * Adds an increment to a request's rollup rows (per key and key-less). Inside a group
   * transaction it is held with the job's and written once per row at the end of the
   * transaction (only if the job succeeded): a busy flush of 50 settlements of one model writes
   * its key-less row once, not 50 times.
   */
  #rollup(k: RollupKey, inc: RollupIncrement): void {
    if (!this.#writeRollups || inc.every((n) => n === 0)) return;
    if (this.#jobRollups) {
      this.#jobRollups.add(k, inc);
      return;
    }
    this.#upsertRollup(k, inc);
  }

  /** Writes the rollup rows of a group transaction, keyed ones then key-less ones. */
  #writeRollupBatch(batch: RollupBatch): void {
    if (batch.rows.size === 0) return;
    for (const { key, inc } of batch.rows.values()) {
      this.#run(
        ROLLUP_UPSERT,
        key.bucket,
        key.keyId,
        key.model,
        key.route,
        key.groupId,
        key.memberId,
        key.upstream,
        ...inc,
      );
    }
    for (const { key, inc } of batch.keyless()) {
      this.#run(ROLLUP_ALL_UPSERT, key.bucket, key.model, key.route, key.upstream, ...inc);
    }
    for (const { key, inc } of batch.rows.values()) this.#upsertCompactedDays(key, inc);
  }

  /**
   * Adds an increment to the per-day rollups too when its bucket is in a day already compacted
   * (a request that settles or is reaped after its day was compacted): else the day would not
   * hold it until the next recompaction, or ever.
   */
  #upsertCompactedDays(k: RollupKey, inc: RollupIncrement): void {
    // Most increments are of today, which no compaction has reached: one cached bound spares
    // them the two statements. Maintenance (the only writer of usage_compacted) resets it.
    this.#compactedTo ??= Number(
      this.#get("SELECT COALESCE(MAX(to_ms), 0) AS t FROM usage_compacted")?.t ?? 0,
    );
    if (k.bucket >= this.#compactedTo) return;
    this.#run(
      DAY_UPSERT,
      k.keyId,
      k.model,
      k.route,
      k.groupId,
      k.memberId,
      k.upstream,
      ...inc,
      k.bucket,
      k.bucket,
    );
    this.#run(DAY_ALL_UPSERT, k.model, k.route, k.upstream, ...inc, k.bucket, k.bucket);
  }

  #upsertRollup(k: RollupKey, inc: RollupIncrement): void {
    this.#run(
      ROLLUP_UPSERT,
      k.bucket,
      k.keyId,
      k.model,
      k.route,
      k.groupId,
      k.memberId,
      k.upstream,
      ...inc,
    );
    this.#run(ROLLUP_ALL_UPSERT, k.bucket, k.model, k.route, k.upstream, ...inc);
    this.#upsertCompactedDays(k, inc);
  }

  /** Counts a refusal in the rollups and, within the per-key cap, logs it as a ledger row. */
  #recordRefusal(
    start: RequestStart,
    owners: Owners,
    decision: Decision & { ok: false },
    nowMs: number,
  ): void {
    const logged = this.#refusalCap.admit(start.keyId, nowMs);
    const facts = refusedFacts(decision, logged);
    const bucket = bucketOf(Date.parse(start.startedAt));
    // The ledger row takes the capped name too, so the audit matches it with its rollup row.
    const model = this.#refusedModels.model(start.keyId, start.model, bucket);
    this.#rollup({
      bucket,
      keyId: start.keyId,
      model,
      route: start.route,
      groupId: owners.group?.id ?? 0,
      memberId: owners.member?.id ?? 0,
      upstream: "",
    }, rollupOf(facts));
    if (!logged) return;
    this.#run(
      `INSERT INTO request_log (key_id, group_id, member_id, day, minute, instance_id, started_at,
         route, model, state, charged, status, outcome, refused_by, bucket)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'refused', 0, ?, 'refused', ?, ?)`,
      start.keyId,
      owners.group?.id ?? null,
      owners.member?.id ?? null,
      start.windows.day,
      start.windows.minute,
      start.instanceId,
      start.startedAt,
      start.route,
      model,
      facts.status,
      facts.refusedBy,
      bucket,
    );
  }

  admit(start: RequestStart, ask: Ask, nowMs: number): Promise<Admission> {
    const w = start.windows;
    return this.#grouped((): Admission => {
      const keyRow = this.#get(
        "SELECT * FROM api_keys WHERE id = ? AND deleted_at IS NULL",
        start.keyId,
      );
      if (!keyRow) return { kind: "missing" };
      const key = this.#admittedKeys.of(keyRow);
      const groupRow = key.group_id === null
        ? undefined
        : this.#get("SELECT * FROM key_groups WHERE id = ?", key.group_id);
      const memberRow = start.memberId === null ? undefined : this.#get(
        "SELECT * FROM key_members WHERE id = ? AND key_id = ?",
        start.memberId,
        start.keyId,
      );
      // A named member that is not there would drop its limits: fail instead.
      if (start.memberId !== null && !memberRow) return { kind: "missing" };
      const owners: Owners = {
        key,
        group: groupRow ? toGroup(groupRow) : null,
        member: memberRow ? toMember(memberRow) : null,
      };
      // The owners' day and month rows (and minute rows), in key order. The month's other
      // days are summed here (bucket ''), so late in a month an admission still reads at most
      // three rows per owner, not one per day (snapshotsFromRows adds them up). Three searches
      // of the primary key, not one with OR and GROUP BY: SQLite ran that as a multi-index OR
      // (a rowid set and a lookup per row) plus a temporary b-tree, 32 vs 20 µs for a key on
      // the 30th with a per-minute limit (1,000 keys).
      const counterRows: Row[] = [];
      const owned = ownersOf(owners);
      for (const o of owned) {
        counterRows.push(...this.#all(
          `SELECT scope, owner_id, period, '' AS bucket, SUM(requests) AS requests,
                  SUM(prompt_tokens + completion_tokens) AS tokens,
                  SUM(reserved_tokens) AS reserved_tokens
             FROM usage_counters
            WHERE scope = ?2 AND owner_id = ?3 AND period = 'day'
              AND bucket >= ?4 AND bucket < ?5 AND bucket <> ?1
           HAVING COUNT(*) > 0
           UNION ALL
           SELECT scope, owner_id, period, bucket, requests,
                  prompt_tokens + completion_tokens, reserved_tokens
             FROM usage_counters
            WHERE scope = ?2 AND owner_id = ?3 AND period = 'day' AND bucket = ?1
           UNION ALL
           SELECT scope, owner_id, period, bucket, requests,
                  prompt_tokens + completion_tokens, reserved_tokens
             FROM usage_counters
            WHERE scope = ?2 AND owner_id = ?3 AND period = 'minute' AND bucket = ?6`,
          w.day,
          o.scope,
          o.id,
          w.monthStart,
          w.monthEnd,
          w.minute,
        ));
      }
      const snapshots = snapshotsFromRows(counterRows, w);
      const draft = scopesFor(owners, () => emptySnapshot());
      if (scopesNeed(draft, { metric: "concurrent" })) {
        addInFlight(
          snapshots,
          owned.map((o) => ({
            scope: o.scope,
            owner_id: o.id,
            in_flight: this.#get(
              `SELECT COUNT(*) AS n FROM request_log WHERE ${
                IN_FLIGHT_COLUMN[o.scope]
              } = ? AND state = 'pending'`,
              o.id,
            )!.n,
          })),
        );
      }
      const scopes = scopesFor(
        owners,
        (scope, id) => snapshots.get(`${scope}:${id}`) ?? emptySnapshot(),
      );
      const decision = admissionDecision(owners, scopes, ask, nowMs);
      if (decision === null) return { kind: "unusable", key };
      if (!decision.ok) {
        if (!(start.provisional && retriableWithEstimate(decision))) {
          this.#recordRefusal(start, owners, decision, nowMs);
        }
        return { kind: "refused", decision };
      }
      let minuteScopes = 0;
      for (const s of scopes) {
        this.#run(
          `INSERT INTO usage_counters (scope, owner_id, period, bucket, requests, reserved_tokens)
           VALUES (?, ?, 'day', ?, 1, ?)
           ON CONFLICT (scope, owner_id, period, bucket) DO UPDATE SET requests = requests + 1,
             reserved_tokens = reserved_tokens + excluded.reserved_tokens`,
          s.scope,
          s.id,
          w.day,
          decision.reservation,
        );
        if (!scopesNeed([s], { window: "minute" })) continue;
        minuteScopes |= MINUTE_BIT[s.scope];
        this.#run(
          `INSERT INTO usage_counters (scope, owner_id, period, bucket, requests, reserved_tokens)
           VALUES (?, ?, 'minute', ?, 1, ?)
           ON CONFLICT (scope, owner_id, period, bucket) DO UPDATE SET requests = requests + 1,
             reserved_tokens = reserved_tokens + excluded.reserved_tokens`,
          s.scope,
          s.id,
          w.minute,
          decision.reservation,
        );
      }
      const logged = this.#get(
        `INSERT INTO request_log (key_id, group_id, member_id, day, minute, minute_scopes,
           instance_id, started_at, route, model, reserved_tokens, bucket)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        start.keyId,
        owners.group?.id ?? null,
        owners.member?.id ?? null,
        w.day,
        w.minute,
        minuteScopes,
        start.instanceId,
        start.startedAt,
        start.route,
        start.model,
        decision.reservation,
        bucketOf(Date.parse(start.startedAt)),
      )!;
      if (writesLastUse(key.last_used_at, start.startedAt)) {
        this.#run(
          "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
          start.startedAt,
          start.keyId,
        );
      }
      return { kind: "admitted", requestId: Number(logged.id), decision };
    });
  }

  /** Adds `delta` to one counter row (a row that is not there has nothing to change). */
  #change(
    o: { scope: Scope; id: number },
    period: "day" | "minute",
    bucket: string,
    delta: { requests: number; prompt: number; completion: number; reserved: number },
  ): void {
    this.#run(
      `UPDATE usage_counters SET requests = requests + ?, prompt_tokens = prompt_tokens + ?,
         completion_tokens = completion_tokens + ?, reserved_tokens = reserved_tokens + ?
       WHERE scope = ? AND owner_id = ? AND period = ? AND bucket = ?`,
      delta.requests,
      delta.prompt,
      delta.completion,
      delta.reserved,
      o.scope,
      o.id,
      period,
      bucket,
    );
  }

  settle(s: Settlement): Promise<void> {
    return this.#grouped(() => {
      // Nearly every settlement finds its row pending: then one statement settles it and reads
      // what the counters need. Another state (abandoned, settled, gone) is read, then judged.
      let prior: PriorState = "pending";
      let row = this.#settleRow(s, counterChanges("pending", 0, s.charge)!, true);
      if (!row) {
        row = this.#get(`SELECT state, ${SETTLE_READS} FROM request_log WHERE id = ?`, s.requestId);
        prior = (row?.state ?? "missing") as PriorState;
      }
      const c = counterChanges(prior, Number(row?.reserved_tokens ?? 0), s.charge);
      if (!c || !row) return;
      if (prior !== "pending") this.#settleRow(s, c, false);
      const delta = {
        requests: -c.requestsBack,
        prompt: c.promptTokens,
        completion: c.completionTokens,
        reserved: -c.released,
      };
      for (const o of ledgerOwners(row)) {
        this.#change(o, "day", String(row.day), delta);
        if (o.minute) this.#change(o, "minute", String(row.minute), delta);
      }
      // The ledger row now names the box it ran on: its facts go to that box's rollup row,
      // and a late settlement takes the abandonment off the row it was counted in (no box).
      const settledKey = rollupKeyOf({ ...row, upstream: s.upstream ?? null });
      if (prior === "abandoned") {
        this.#rollup(rollupKeyOf(row), rollupOf(ABANDONED).map((n) => -n));
      }
      this.#rollup(settledKey, rollupOf(settledFacts(s, c)));
    });
  }

  /**
   * Writes a settlement's facts on its ledger row. `ifPending`: only a pending row, returning
   * the columns a settlement reads (undefined when the row is in another state or gone).
   */
  #settleRow(s: Settlement, c: CounterChanges, ifPending: boolean): Row | undefined {
    return this.#get(
      ifPending ? SETTLE_PENDING_ROW : SETTLE_ROW,
      c.charged ? 1 : 0,
      s.charge.status,
      c.promptTokens,
      c.completionTokens,
      s.charge.estimated ? 1 : 0,
      s.durationMs,
      endingOf(s.charge.status),
      s.ttfbMs ?? null,
      s.timings?.loadMs ?? null,
      s.timings?.promptEvalMs ?? null,
      s.timings?.evalMs ?? null,
      s.upstream ?? null,
      s.requestId,
    );
  }

  heartbeat(instanceId: string, at: string): Promise<void> {
    return this.#grouped(() => {
      this.#run(
        `INSERT INTO gateway_instances (id, seen_at) VALUES (?, ?)
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`,
        instanceId,
        at,
      );
    });
  }

  releaseStale(cutoffs: StaleCutoffs): Promise<number> {
    return this.#grouped(() => {
      const stale = this.#all(
        `SELECT id, key_id, group_id, member_id, day, minute, minute_scopes, reserved_tokens,
                bucket, started_at, model, route, upstream
           FROM request_log
          WHERE state = 'pending' AND (started_at < ? OR instance_id IN
            (SELECT id FROM gateway_instances WHERE seen_at < ?))`,
        cutoffs.startedBefore,
        cutoffs.silentSince,
      );
      for (const row of stale) {
        const delta = {
          requests: 0,
          prompt: 0,
          completion: 0,
          reserved: -Number(row.reserved_tokens),
        };
        for (const o of ledgerOwners(row)) {
          this.#change(o, "day", String(row.day), delta);
          if (o.minute) this.#change(o, "minute", String(row.minute), delta);
        }
        this.#run(
          `UPDATE request_log SET state = 'abandoned', charged = 1, estimated = 1,
             outcome = 'abandoned' WHERE id = ?`,
          row.id,
        );
        this.#rollup(rollupKeyOf(row), rollupOf(ABANDONED));
      }
      // Minutes long past are never read again; silent gateways' rows have nothing left.
      this.#run(
        "DELETE FROM usage_counters WHERE period = 'minute' AND bucket < ?",
        cutoffs.minutesBefore.slice(0, 16),
      );
      this.#run(
        `DELETE FROM gateway_instances WHERE seen_at < ? AND id NOT IN
           (SELECT instance_id FROM request_log WHERE state = 'pending' AND instance_id IS NOT NULL)`,
        cutoffs.silentSince,
      );
      return stale.length;
    });
  }

  // async: a failing statement rejects, as a PostgreSQL one does, rather than throwing.
  async listUpstreams(): Promise<StoredUpstream[]> {
    return await Promise.resolve(this.#all("SELECT * FROM upstreams ORDER BY id").map(toUpstream));
  }

  async getUpstream(id: number): Promise<StoredUpstream | null> {
    const row = this.#get("SELECT * FROM upstreams WHERE id = ?", id);
    return await Promise.resolve(row ? toUpstream(row) : null);
  }

  async createUpstream(u: NewUpstream): Promise<StoredUpstream> {
    return await Promise.resolve(this.#insertUpstream(u));
  }

  #insertUpstream(u: NewUpstream): StoredUpstream {
    const row = this.#get(
      `INSERT INTO upstreams (name, url, token, enabled, max_in_flight, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      u.name,
      u.url,
      u.token_sealed,
      u.enabled ? 1 : 0,
      u.max_in_flight,
      u.created_at,
      u.updated_at,
    );
    return toUpstream(row!);
  }

  async updateUpstream(id: number, patch: UpstreamPatch): Promise<StoredUpstream | null> {
    const sets: string[] = ["updated_at = ?"];
    const values: SQLInputValue[] = [patch.updated_at];
    const add = (column: string, value: SQLInputValue) => {
      sets.push(`${column} = ?`);
      values.push(value);
    };
    if (patch.name !== undefined) add("name", patch.name);
    if (patch.url !== undefined) add("url", patch.url);
    if (patch.token_sealed !== undefined) add("token", patch.token_sealed);
    if (patch.enabled !== undefined) add("enabled", patch.enabled ? 1 : 0);
    if (patch.max_in_flight !== undefined) add("max_in_flight", patch.max_in_flight);
    const row = this.#get(
      `UPDATE upstreams SET ${sets.join(", ")} WHERE id = ? RETURNING *`,
      ...values,
      id,
    );
    return await Promise.resolve(row ? toUpstream(row) : null);
  }

  async deleteUpstream(id: number): Promise<boolean> {
    return await Promise.resolve(this.#run("DELETE FROM upstreams WHERE id = ?", id).changes > 0);
  }

  async seedUpstreams(rows: ReadonlyArray<NewUpstream>): Promise<boolean> {
    return await Promise.resolve(this.#write(() => {
      const marked = this.#run(
        "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
        UPSTREAMS_SEEDED,
        new Date().toISOString(),
      ).changes;
      if (marked === 0) return false;
      for (const row of rows) this.#insertUpstream(row);
      return true;
    }));
  }

  audit(): Promise<AuditDifference[]> {
    return Promise.resolve(auditDifferences(this.#all(AUDIT_SQL)));
  }

  auditRollups(): Promise<RollupDifference[]> {
    return auditRollups("sqlite", (q) => Promise.resolve(this.#query(q)));
  }

  #query(q: Query): Row[] {
    return this.#all(q.sql, ...(q.params as SQLInputValue[]));
  }

  usage(q: UsageQuery): Promise<UsageRow[]> {
    return readUsage("sqlite", q, {
      all: (query) => Promise.resolve(this.#query(query)),
      values: (query) => Promise.resolve(this.#values(query)),
    });
  }

  requestLog(q: RequestQuery): Promise<RequestRow[]> {
    return Promise.resolve(this.#values(requestLogQuery("sqlite", q)).map(toRequestRow));
  }

  maintainAnalytics(m: AnalyticsMaintenance): Promise<MaintenanceResult> {
    // Each step is its own short write transaction in the group-commit queue, so admissions
    // and settlements interleave with it; between batches the event loop turns.
    return runMaintenance("sqlite", m, {
      exclusive: (fn) =>
        fn({
          read: (q) => Promise.resolve(this.#query(q)),
          write: (qs) =>
            this.#grouped(() => {
              this.#compactedTo = null;
              return qs.reduce((n, q) => n + this.#runQuery(q), 0);
            }),
        }),
    });
  }

  #runQuery(q: Query): number {
    return Number(this.#stmt(q.sql).run(...(q.params as SQLInputValue[])).changes);
  }
}
