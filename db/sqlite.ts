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
  AUDIT_SQL,
  auditDifferences,
  PATCHABLE_COLUMNS,
  toApiKey,
  toUsageMap,
  toWindowUsageRow,
} from "./rows.ts";
import type {
  Admission,
  ApiKey,
  ApiKeyPatch,
  AuditDifference,
  KeyUsage,
  NewApiKey,
  RequestStart,
  Settings,
  Settlement,
  Store,
  WindowKeys,
} from "./store.ts";
import type { Decision, WindowUsage } from "../core/quota.ts";

/** Turns `sqlite:///relative/path` or `sqlite:////absolute/path` into a file path. */
export function sqlitePath(url: string): string {
  const match = /^sqlite:\/\/\/(.+)$/.exec(url);
  if (!match) {
    throw new Error(`Cannot parse DATABASE_URL: expected ${DATABASE_URL_FORMS}`);
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
  if (path === ":memory:") return new SqliteStore(new DatabaseSync(path));
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
  return new SqliteStore(db);
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

  seedSettings(defaults: Settings): Promise<void> {
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

  getSettings(): Promise<Settings> {
    const rows = this.#all("SELECT name, value FROM settings");
    const map = Object.fromEntries(rows.map((r) => [r.name, r.value]));
    return Promise.resolve({
      ollama_url: String(map.ollama_url ?? ""),
      default_model: String(map.default_model ?? ""),
    });
  }

  updateSettings(patch: Partial<Settings>): Promise<Settings> {
    this.#write(() => {
      for (const [name, value] of Object.entries(patch)) {
        if (value === undefined) continue;
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
      `INSERT INTO api_keys (name, prefix, key_hash, active, created_at, expires_at,
         daily_request_limit, monthly_request_limit, daily_token_limit, monthly_token_limit)
       VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?) RETURNING *`,
      k.name,
      k.prefix,
      k.key_hash,
      k.created_at,
      k.expires_at,
      k.daily_request_limit,
      k.monthly_request_limit,
      k.daily_token_limit,
      k.monthly_token_limit,
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
    const values = columns.map((c) => {
      const v = patch[c];
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

  admit(
    start: RequestStart,
    decide: (key: ApiKey, usage: WindowUsage) => Decision,
  ): Promise<Admission | null> {
    const w = start.windows;
    return this.#grouped(() => {
      const keyRow = this.#get("SELECT * FROM api_keys WHERE id = ?", start.keyId);
      if (!keyRow) return null;
      const key = toApiKey(keyRow);
      // Day and month in one pass over the month's rows of this key (primary key order).
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
      const decision = decide(key, toWindowUsageRow(usage));
      if (!decision.ok) return { decision, requestId: null };
      this.#run(
        `INSERT INTO usage_daily (key_id, day, requests, reserved_tokens) VALUES (?, ?, 1, ?)
         ON CONFLICT (key_id, day) DO UPDATE SET requests = requests + 1,
           reserved_tokens = reserved_tokens + excluded.reserved_tokens`,
        start.keyId,
        w.day,
        decision.reservation,
      );
      const logged = this.#get(
        `INSERT INTO request_log (key_id, day, started_at, route, model, reserved_tokens)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
        start.keyId,
        w.day,
        start.startedAt,
        start.route,
        start.model,
        decision.reservation,
      )!;
      this.#run("UPDATE api_keys SET last_used_at = ? WHERE id = ?", start.startedAt, start.keyId);
      return { decision, requestId: Number(logged.id) };
    });
  }

  settle(s: Settlement): Promise<void> {
    return this.#grouped(() => {
      const row = this.#get("SELECT state FROM request_log WHERE id = ?", s.requestId);
      // Settled already (a duplicate) or gone with its key: nothing left to record.
      if (row?.state !== "pending" && row?.state !== "abandoned") return;
      // Abandoned: releaseStale already released the reservation and kept the unit charged.
      const late = row.state === "abandoned";
      const charged = s.charged || late;
      const prompt = s.charged ? s.promptTokens : 0;
      const completion = s.charged ? s.completionTokens : 0;
      this.#run(
        `UPDATE usage_daily SET reserved_tokens = reserved_tokens - ?, requests = requests - ?,
           prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?
         WHERE key_id = ? AND day = ?`,
        late ? 0 : s.reservation,
        charged ? 0 : 1,
        prompt,
        completion,
        s.keyId,
        s.day,
      );
      this.#run(
        `UPDATE request_log SET state = 'settled', charged = ?, status = ?, prompt_tokens = ?,
           completion_tokens = ?, estimated = ?, duration_ms = ? WHERE id = ?`,
        charged ? 1 : 0,
        s.status,
        prompt,
        completion,
        s.estimated ? 1 : 0,
        s.durationMs,
        s.requestId,
      );
    });
  }

  releaseStale(startedBefore: string): Promise<number> {
    return Promise.resolve(this.#write(() => {
      const stale = this.#all(
        "SELECT id, key_id, day, reserved_tokens FROM request_log WHERE state = 'pending' AND started_at < ?",
        startedBefore,
      );
      for (const row of stale) {
        this.#run(
          "UPDATE usage_daily SET reserved_tokens = reserved_tokens - ? WHERE key_id = ? AND day = ?",
          row.reserved_tokens,
          row.key_id,
          row.day,
        );
        this.#run(
          "UPDATE request_log SET state = 'abandoned', charged = 1, estimated = 1 WHERE id = ?",
          row.id,
        );
      }
      return stale.length;
    }));
  }

  audit(): Promise<AuditDifference[]> {
    return Promise.resolve(auditDifferences(this.#all(AUDIT_SQL)));
  }
}
