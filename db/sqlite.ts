/**
 * SQLite adapter (node:sqlite). Writes run in `BEGIN IMMEDIATE` transactions in WAL mode, so
 * admission is serialised across every process that opens the same file.
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { setImmediate } from "node:timers";
import { dirname } from "node:path";
import { sqliteMigrations } from "./migrations/sqlite.ts";
import {
  AUDIT_SQL,
  auditDifferences,
  PATCHABLE_COLUMNS,
  policyToJson,
  toApiKey,
  toLiveUsageMap,
  toSnapshot,
  toUsageMap,
} from "./rows.ts";
import { type Ask, decide } from "../core/admission.ts";
import { keyStatusAt } from "../core/api_keys.ts";
import type { ApiKey, ApiKeyPatch, KeyUsage, NewApiKey } from "../core/model.ts";
import { counterChanges, type PriorState } from "../core/settlement.ts";
import type {
  Admission,
  AuditDifference,
  LiveUsage,
  RequestStart,
  Settlement,
  StaleCutoffs,
  Store,
  WindowKeys,
} from "../core/store.ts";

/** Turns `sqlite:///relative/path` or `sqlite:////absolute/path` into a file path. */
export function sqlitePath(url: string): string {
  const match = /^sqlite:\/\/\/(.+)$/.exec(url);
  if (!match) {
    throw new Error(
      `Cannot parse DATABASE_URL: expected sqlite:///relative/path or sqlite:////absolute/path`,
    );
  }
  return match[1];
}

type Row = Record<string, SQLInputValue>;
/** A store call this soon after the last group transaction is grouped with any that follow. */
const QUIET_MS = 1;
type Job = { work: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void };

/** Opens (creating when needed) the SQLite database at a sqlite:/// URL. */
export function openSqliteStore(url: string): SqliteStore {
  const path = sqlitePath(url);
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  return new SqliteStore(new DatabaseSync(path));
}

/** The SQLite implementation of Store. */
export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  #db: DatabaseSync;
  #cache = new Map<string, StatementSync>();
  /** Admissions and settlements waiting for the next group transaction. */
  #queue: Job[] = [];
  #lastFlush = -Infinity;

  constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA busy_timeout = 10000");
    db.exec("PRAGMA foreign_keys = ON");
    // Savepoints of grouped jobs keep their undo records in memory, not in temp files.
    db.exec("PRAGMA temp_store = MEMORY");
  }

  #stmt(sql: string): StatementSync {
    let s = this.#cache.get(sql);
    if (!s) this.#cache.set(sql, s = this.#db.prepare(sql));
    return s;
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
   * (setImmediate: microseconds when idle). Each job runs in its own savepoint, reads what the
   * jobs before it wrote, and fails alone; none is answered before the transaction committed, so
   * exactness is that of one transaction per job.
   */
  #grouped<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const first = this.#queue.push({ work, resolve, reject } as Job) === 1;
      if (!first) return;
      // A quiet gateway (one request at a time) would only wait for the turn: it runs at once.
      if (performance.now() - this.#lastFlush > QUIET_MS) this.#flush();
      else setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const jobs = this.#queue;
    this.#queue = [];
    if (jobs.length === 0) return;
    this.#lastFlush = performance.now();
    const results: Array<{ ok: boolean; value: unknown }> = [];
    // Alone in its transaction, a job needs no savepoint: the transaction is its own.
    const alone = jobs.length === 1;
    try {
      this.#write(() => {
        if (alone) {
          results.push({ ok: true, value: jobs[0].work() });
          return;
        }
        for (const job of jobs) {
          this.#run("SAVEPOINT job");
          try {
            results.push({ ok: true, value: job.work() });
          } catch (err) {
            this.#run("ROLLBACK TO job");
            results.push({ ok: false, value: err });
          }
          this.#run("RELEASE job");
        }
      });
    } catch (err) {
      // The transaction itself failed (locked past busy_timeout, disk, closed): nothing of it
      // was recorded, so every job of the group fails.
      for (const job of jobs) job.reject(err);
      return;
    }
    jobs.forEach((job, i) =>
      results[i].ok ? job.resolve(results[i].value) : job.reject(results[i].value)
    );
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

  close(): Promise<void> {
    if (this.#db.isOpen) {
      this.#flush();
      this.#db.close();
    }
    return Promise.resolve();
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
      `INSERT INTO api_keys (name, prefix, key_hash, active, created_at, expires_at, policy)
       VALUES (?, ?, ?, 1, ?, ?, ?) RETURNING *`,
      k.name,
      k.prefix,
      k.key_hash,
      k.created_at,
      k.expires_at,
      policyToJson(k.policy),
    );
    return Promise.resolve(toApiKey(row!));
  }

  listKeys(): Promise<ApiKey[]> {
    return Promise.resolve(this.#all("SELECT * FROM api_keys ORDER BY id").map(toApiKey));
  }

  getKey(id: number): Promise<ApiKey | null> {
    const row = this.#get("SELECT * FROM api_keys WHERE id = ?", id);
    return Promise.resolve(row ? toApiKey(row) : null);
  }

  findKeyByHash(hash: string): Promise<ApiKey | null> {
    const row = this.#get("SELECT * FROM api_keys WHERE key_hash = ?", hash);
    return Promise.resolve(row ? toApiKey(row) : null);
  }

  updateKey(id: number, patch: ApiKeyPatch): Promise<ApiKey | null> {
    const columns = PATCHABLE_COLUMNS.filter((c) => patch[c] !== undefined);
    if (columns.length === 0) return this.getKey(id);
    const values = columns.map((c): SQLInputValue => {
      const v = patch[c];
      if (c === "policy") return policyToJson(patch.policy!);
      return typeof v === "boolean" ? (v ? 1 : 0) : v as SQLInputValue;
    });
    const row = this.#get(
      `UPDATE api_keys SET ${columns.map((c) => `${c} = ?`).join(", ")} WHERE id = ? RETURNING *`,
      ...values,
      id,
    );
    return Promise.resolve(row ? toApiKey(row) : null);
  }

  deleteKey(id: number): Promise<boolean> {
    return Promise.resolve(this.#run("DELETE FROM api_keys WHERE id = ?", id).changes > 0);
  }

  usageByKey(w: WindowKeys): Promise<Map<number, KeyUsage>> {
    const rows = this.#all(
      `SELECT key_id, 'day' AS window, requests, prompt_tokens, completion_tokens
         FROM usage_daily WHERE day = ?
       UNION ALL
       SELECT key_id, 'month' AS window, SUM(requests) AS requests,
              SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens
         FROM usage_daily WHERE day >= ? AND day < ? GROUP BY key_id`,
      w.day,
      w.monthStart,
      w.monthEnd,
    );
    return Promise.resolve(toUsageMap(rows));
  }

  liveUsageByKey(minute: string): Promise<Map<number, LiveUsage>> {
    const rows = this.#all(
      `SELECT key_id, COUNT(*) AS in_flight, 0 AS minute_requests, 0 AS minute_tokens
         FROM request_log WHERE state = 'pending' GROUP BY key_id
       UNION ALL
       SELECT key_id, 0, requests, tokens + reserved_tokens FROM usage_minute WHERE minute = ?`,
      minute,
    );
    return Promise.resolve(toLiveUsageMap(rows));
  }

  admit(start: RequestStart, ask: Ask, nowMs: number): Promise<Admission> {
    const w = start.windows;
    return this.#grouped((): Admission => {
      const keyRow = this.#get("SELECT * FROM api_keys WHERE id = ?", start.keyId);
      if (!keyRow) return { kind: "missing" };
      const key = toApiKey(keyRow);
      // The key as read inside the transaction decides: authentication may have used a cached
      // copy, so a key deactivated, expired or idle since is refused and nothing is recorded.
      if (keyStatusAt(key, nowMs) !== "active") return { kind: "unusable", key };
      const perMinute = key.policy.limits.some((l) => l.window === "minute");
      const concurrent = key.policy.limits.some((l) => l.metric === "concurrent");
      // Day and month in one pass over the month's rows of this key (primary key order); the
      // minute and the requests in flight only when a limit needs them.
      const usage = this.#get(
        `SELECT COALESCE(SUM(CASE WHEN day = ? THEN requests END), 0) AS day_requests,
                COALESCE(SUM(CASE WHEN day = ? THEN prompt_tokens + completion_tokens END), 0)
                  AS day_tokens,
                COALESCE(SUM(CASE WHEN day = ? THEN reserved_tokens END), 0) AS day_reserved,
                COALESCE(SUM(requests), 0) AS month_requests,
                COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS month_tokens,
                COALESCE(SUM(reserved_tokens), 0) AS month_reserved
           FROM usage_daily WHERE key_id = ? AND day >= ? AND day < ?`,
        w.day,
        w.day,
        w.day,
        start.keyId,
        w.monthStart,
        w.monthEnd,
      )!;
      if (perMinute) {
        const m = this.#get(
          `SELECT requests AS minute_requests, tokens AS minute_tokens,
                  reserved_tokens AS minute_reserved
             FROM usage_minute WHERE key_id = ? AND minute = ?`,
          start.keyId,
          w.minute,
        );
        Object.assign(usage, m);
      }
      if (concurrent) {
        Object.assign(
          usage,
          this.#get(
            "SELECT COUNT(*) AS in_flight FROM request_log WHERE key_id = ? AND state = 'pending'",
            start.keyId,
          ),
        );
      }
      const decision = decide(
        [{ scope: "key", policy: key.policy, snapshot: toSnapshot(usage) }],
        ask,
      );
      if (!decision.ok) return { kind: "refused", decision };
      this.#run(
        `INSERT INTO usage_daily (key_id, day, requests, reserved_tokens) VALUES (?, ?, 1, ?)
         ON CONFLICT (key_id, day) DO UPDATE SET requests = requests + 1,
           reserved_tokens = reserved_tokens + excluded.reserved_tokens`,
        start.keyId,
        w.day,
        decision.reservation,
      );
      if (perMinute) {
        this.#run(
          `INSERT INTO usage_minute (key_id, minute, requests, reserved_tokens) VALUES (?, ?, 1, ?)
           ON CONFLICT (key_id, minute) DO UPDATE SET requests = requests + 1,
             reserved_tokens = reserved_tokens + excluded.reserved_tokens`,
          start.keyId,
          w.minute,
          decision.reservation,
        );
      }
      const logged = this.#get(
        `INSERT INTO request_log (key_id, day, minute, instance_id, started_at, route, model,
           reserved_tokens)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        start.keyId,
        w.day,
        perMinute ? w.minute : null,
        start.instanceId,
        start.startedAt,
        start.route,
        start.model,
        decision.reservation,
      )!;
      this.#run("UPDATE api_keys SET last_used_at = ? WHERE id = ?", start.startedAt, start.keyId);
      return { kind: "admitted", requestId: Number(logged.id), decision };
    });
  }

  settle(s: Settlement): Promise<void> {
    return this.#grouped(() => {
      const row = this.#get(
        "SELECT state, key_id, day, minute, reserved_tokens FROM request_log WHERE id = ?",
        s.requestId,
      );
      const prior = (row?.state ?? "missing") as PriorState;
      const c = counterChanges(prior, Number(row?.reserved_tokens ?? 0), s.charge);
      if (!c || !row) return;
      this.#run(
        `UPDATE usage_daily SET reserved_tokens = reserved_tokens - ?, requests = requests - ?,
           prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?
         WHERE key_id = ? AND day = ?`,
        c.released,
        c.requestsBack,
        c.promptTokens,
        c.completionTokens,
        row.key_id,
        row.day,
      );
      if (row.minute !== null) {
        this.#run(
          `UPDATE usage_minute SET reserved_tokens = reserved_tokens - ?, requests = requests - ?,
             tokens = tokens + ? WHERE key_id = ? AND minute = ?`,
          c.released,
          c.requestsBack,
          c.promptTokens + c.completionTokens,
          row.key_id,
          row.minute,
        );
      }
      this.#run(
        `UPDATE request_log SET state = 'settled', charged = ?, status = ?, prompt_tokens = ?,
           completion_tokens = ?, estimated = ?, duration_ms = ? WHERE id = ?`,
        c.charged ? 1 : 0,
        s.charge.status,
        c.promptTokens,
        c.completionTokens,
        s.charge.estimated ? 1 : 0,
        s.durationMs,
        s.requestId,
      );
    });
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
        `SELECT id, key_id, day, minute, reserved_tokens FROM request_log
          WHERE state = 'pending' AND (started_at < ? OR instance_id IN
            (SELECT id FROM gateway_instances WHERE seen_at < ?))`,
        cutoffs.startedBefore,
        cutoffs.silentSince,
      );
      for (const row of stale) {
        this.#run(
          "UPDATE usage_daily SET reserved_tokens = reserved_tokens - ? WHERE key_id = ? AND day = ?",
          row.reserved_tokens,
          row.key_id,
          row.day,
        );
        if (row.minute !== null) {
          this.#run(
            "UPDATE usage_minute SET reserved_tokens = reserved_tokens - ? WHERE key_id = ? AND minute = ?",
            row.reserved_tokens,
            row.key_id,
            row.minute,
          );
        }
        this.#run(
          "UPDATE request_log SET state = 'abandoned', charged = 1, estimated = 1 WHERE id = ?",
          row.id,
        );
      }
      // Minutes long past are never read again; silent gateways' rows have nothing left.
      this.#run("DELETE FROM usage_minute WHERE minute < ?", cutoffs.minutesBefore.slice(0, 16));
      this.#run(
        `DELETE FROM gateway_instances WHERE seen_at < ? AND id NOT IN
           (SELECT instance_id FROM request_log WHERE state = 'pending' AND instance_id IS NOT NULL)`,
        cutoffs.silentSince,
      );
      return stale.length;
    });
  }

  audit(): Promise<AuditDifference[]> {
    return Promise.resolve(auditDifferences(this.#all(AUDIT_SQL)));
  }
}
