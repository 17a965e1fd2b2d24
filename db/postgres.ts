/**
 * PostgreSQL adapter (npm `postgres`). Every value is bound as a parameter through tagged
 * templates. Admission locks the key's row (`SELECT … FOR UPDATE`) inside a transaction, so
 * requests of one key are serialised across every gateway sharing the database.
 * @module
 */
import postgres from "postgres";
import { postgresMigrations } from "./migrations/postgres.ts";
import {
  AUDIT_SQL,
  auditDifferences,
  PATCHABLE_COLUMNS,
  toApiKey,
  toUsageMap,
  toWindowUsage,
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

/** Options for opening a PostgreSQL store. */
export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Server-side statement timeout in milliseconds, lock waits included (default 5000). */
  statementTimeoutMs?: number;
  /** How long start-up keeps retrying an unreachable database, in seconds (default 30). */
  connectTimeoutSeconds?: number;
}

/** Key of the advisory lock that serialises migrations across gateways ("llmq" + 1). */
const MIGRATION_LOCK = 0x6c6c6d71_01;

/** Custom types: BIGINT (int8) columns come back as numbers; counters never near 2^53. */
const types = {
  bigint: {
    to: 20,
    from: [20],
    serialize: (x: number) => String(x),
    parse: (x: string) => Number(x),
  },
};

type Types = { bigint: number };
type Sql = postgres.Sql<Types>;

/** `user@host:port/db` of a connection URL; never includes the password. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : "";
    const host = u.hostname || "localhost";
    const db = decodeURIComponent(u.pathname.replace(/^\//, "")) || "(default db)";
    return `${user}${host}:${u.port || "5432"}/${db}`;
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return "";
  }
}

/** Server errors that mean "not up yet"; any other server error (auth, no such db) is final. */
const TRANSIENT_SQLSTATES = new Set(["57P03", "53300"]);

function isTransient(err: unknown): boolean {
  if (err instanceof postgres.PostgresError) return TRANSIENT_SQLSTATES.has(err.code);
  // Network-level failures (ECONNREFUSED, ENOTFOUND, CONNECT_TIMEOUT, CONNECTION_CLOSED…).
  return true;
}

/**
 * Whether a reserved connection may still be used after a query on it failed: after a server
 * ERROR (it ends the statement, not the session) and after postgres.js refused a query before
 * sending it (UNDEFINED_VALUE…). Not after FATAL, socket or CONNECTION_* errors, nor when unsure:
 * writing to or releasing a reserved connection whose socket closed crashes the process in
 * postgres.js 3.4.9 (porsager/postgres#1208), while a live one left reserved costs a pool slot.
 */
function connectionUsable(err: unknown): boolean {
  if (err instanceof postgres.PostgresError) return err.severity === "ERROR";
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Z]+(_[A-Z]+)+$/.test(code) &&
    !code.startsWith("CONNECT");
}

function reasonOf(err: unknown, password: string): string {
  const raw = err instanceof Error
    ? (err.message || (err as { code?: string }).code || err.name)
    : String(err);
  return password ? raw.split(password).join("***") : raw;
}

/**
 * Opens a pooled connection to PostgreSQL, waiting (bounded by `connectTimeoutSeconds`) for the
 * server to come up. Throws `Cannot connect to PostgreSQL at …` when it does not.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresOptions = {},
): Promise<PostgresStore> {
  const totalSeconds = options.connectTimeoutSeconds ?? 30;
  const sql: Sql = postgres(url, {
    max: options.poolSize ?? 10,
    idle_timeout: 30,
    connect_timeout: Math.max(1, Math.min(5, totalSeconds)),
    onnotice: () => {},
    types,
    connection: {
      application_name: "llm-quota",
      statement_timeout: options.statementTimeoutMs ?? 5000,
    },
  });
  const target = describePostgresUrl(url);
  const password = passwordOf(url);
  const deadline = Date.now() + totalSeconds * 1000;
  let delay = 1;
  for (;;) {
    try {
      await sql`SELECT 1`;
      return new PostgresStore(sql);
    } catch (err) {
      const reason = reasonOf(err, password);
      const left = (deadline - Date.now()) / 1000;
      if (!isTransient(err) || left <= 0) {
        await sql.end({ timeout: 0 });
        throw new Error(`Cannot connect to PostgreSQL at ${target}: ${reason}`);
      }
      const wait = Math.max(0.1, Math.round(Math.min(delay, left) * 10) / 10);
      console.warn(
        `Database not reachable (${target}, no password shown: ${reason}); retrying in ${wait}s`,
      );
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      delay = Math.min(delay * 2, 5);
    }
  }
}

/** The PostgreSQL implementation of Store. */
export class PostgresStore implements Store {
  readonly dialect = "postgres" as const;
  #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
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
    await this.#sql.end({ timeout: 5 });
  }

  async seedSettings(defaults: Settings): Promise<void> {
    await this.#sql.begin(async (tx) => {
      for (const [name, value] of Object.entries(defaults)) {
        await tx`INSERT INTO settings (name, value) VALUES (${name}, ${value})
                 ON CONFLICT (name) DO NOTHING`;
      }
    });
  }

  async getSettings(): Promise<Settings> {
    const rows = await this.#sql`SELECT name, value FROM settings`;
    const map = Object.fromEntries(rows.map((r) => [r.name, r.value]));
    return {
      ollama_url: String(map.ollama_url ?? ""),
      default_model: String(map.default_model ?? ""),
    };
  }

  async updateSettings(patch: Partial<Settings>): Promise<Settings> {
    await this.#sql.begin(async (tx) => {
      for (const [name, value] of Object.entries(patch)) {
        if (value === undefined) continue;
        await tx`INSERT INTO settings (name, value) VALUES (${name}, ${value})
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
      }
    });
    return this.getSettings();
  }

  async createKey(k: NewApiKey): Promise<ApiKey> {
    const [row] = await this.#sql`
      INSERT INTO api_keys (name, prefix, key_hash, active, created_at, expires_at,
        daily_request_limit, monthly_request_limit, daily_token_limit, monthly_token_limit)
      VALUES (${k.name}, ${k.prefix}, ${k.key_hash}, TRUE, ${k.created_at}, ${k.expires_at},
        ${k.daily_request_limit}, ${k.monthly_request_limit}, ${k.daily_token_limit},
        ${k.monthly_token_limit})
      RETURNING *`;
    return toApiKey(row);
  }

  async listKeys(): Promise<ApiKey[]> {
    const rows = await this.#sql`SELECT * FROM api_keys ORDER BY id`;
    return rows.map(toApiKey);
  }

  async getKey(id: number): Promise<ApiKey | null> {
    const [row] = await this.#sql`SELECT * FROM api_keys WHERE id = ${id}`;
    return row ? toApiKey(row) : null;
  }

  async findKeyByHash(hash: string): Promise<ApiKey | null> {
    const [row] = await this.#sql`SELECT * FROM api_keys WHERE key_hash = ${hash}`;
    return row ? toApiKey(row) : null;
  }

  async updateKey(id: number, patch: ApiKeyPatch): Promise<ApiKey | null> {
    // Column names come from the fixed PATCHABLE_COLUMNS list; values are bound parameters.
    const columns = PATCHABLE_COLUMNS.filter((c) => patch[c] !== undefined);
    if (columns.length === 0) return this.getKey(id);
    const values: Record<string, string | number | boolean | null> = {};
    for (const c of columns) values[c] = patch[c] ?? null;
    const [row] = await this.#sql`
      UPDATE api_keys SET ${this.#sql(values, columns)} WHERE id = ${id} RETURNING *`;
    return row ? toApiKey(row) : null;
  }

  async deleteKey(id: number): Promise<boolean> {
    const result = await this.#sql`DELETE FROM api_keys WHERE id = ${id}`;
    return result.count > 0;
  }

  async usageByKey(w: WindowKeys): Promise<Map<number, KeyUsage>> {
    const rows = await this.#sql`
      SELECT key_id, 'day' AS window, requests, prompt_tokens, completion_tokens
        FROM usage_daily WHERE day = ${w.day}
      UNION ALL
      SELECT key_id, 'month' AS window, SUM(requests)::bigint AS requests,
             SUM(prompt_tokens)::bigint AS prompt_tokens,
             SUM(completion_tokens)::bigint AS completion_tokens
        FROM usage_daily WHERE day >= ${w.monthStart} AND day < ${w.monthEnd} GROUP BY key_id`;
    return toUsageMap(rows);
  }

  async admit(
    start: RequestStart,
    decide: (key: ApiKey, usage: WindowUsage) => Decision,
  ): Promise<Admission | null> {
    const w = start.windows;
    const keyId = start.keyId;
    // A reserved connection rather than sql.begin(): begin() awaits BEGIN alone and COMMIT alone,
    // two extra round trips, the COMMIT one while the row lock is held. Here postgres.js
    // pipelines the statements given together (each carries its own Sync, so they still run one
    // after the other on the server): two round trips for an admission, one of them under lock.
    const tx = await this.#sql.reserve();
    let deciding = false;
    let usable = true;
    try {
      const [, [keyRow], [usage]] = await Promise.all([
        tx`BEGIN`,
        // The row lock serialises admissions of this key until commit, across all connections.
        tx`SELECT * FROM api_keys WHERE id = ${keyId} FOR UPDATE`,
        // Its own statement, so under READ COMMITTED it takes a fresh snapshot when it starts,
        // which is after the lock above is granted: it sees everything the previous holder
        // committed. Folded into the locking statement it would keep the snapshot taken
        // before the lock wait and miss that.
        tx`
          SELECT
            COALESCE(SUM(requests) FILTER (WHERE day = ${w.day}), 0)::bigint AS day_requests,
            COALESCE(SUM(prompt_tokens + completion_tokens) FILTER (WHERE day = ${w.day}), 0)
              ::bigint AS day_tokens,
            COALESCE(SUM(reserved_tokens) FILTER (WHERE day = ${w.day}), 0)::bigint
              AS day_reserved,
            COALESCE(SUM(requests) FILTER (WHERE day >= ${w.monthStart} AND day < ${w.monthEnd}),
              0)::bigint AS month_requests,
            COALESCE(SUM(prompt_tokens + completion_tokens)
              FILTER (WHERE day >= ${w.monthStart} AND day < ${w.monthEnd}), 0)::bigint
              AS month_tokens,
            COALESCE(SUM(reserved_tokens)
              FILTER (WHERE day >= ${w.monthStart} AND day < ${w.monthEnd}), 0)::bigint
              AS month_reserved
            FROM usage_daily
           WHERE key_id = ${keyId}
             AND (day = ${w.day} OR (day >= ${w.monthStart} AND day < ${w.monthEnd}))`,
      ]);
      // Nothing written on these two ways out: ROLLBACK, which unlike COMMIT does not wait for
      // the WAL flush the row lock's record would need.
      if (!keyRow) {
        await tx`ROLLBACK`;
        return null;
      }
      deciding = true;
      const decision = decide(
        toApiKey(keyRow),
        toWindowUsage(
          { requests: usage.day_requests, tokens: usage.day_tokens, reserved: usage.day_reserved },
          {
            requests: usage.month_requests,
            tokens: usage.month_tokens,
            reserved: usage.month_reserved,
          },
        ),
      );
      deciding = false;
      if (!decision.ok) {
        // A refusal leaves counters and last_used_at as they were.
        await tx`ROLLBACK`;
        return { decision, requestId: null };
      }
      // One statement for the three writes, pipelined with COMMIT. Should it fail, the server
      // answers the COMMIT of the failed transaction with a rollback.
      const [[logged]] = await Promise.all([
        tx`
          WITH counted AS (
            INSERT INTO usage_daily (key_id, day, requests, reserved_tokens)
            VALUES (${keyId}, ${w.day}, 1, ${decision.reservation})
            ON CONFLICT (key_id, day) DO UPDATE SET requests = usage_daily.requests + 1,
              reserved_tokens = usage_daily.reserved_tokens + excluded.reserved_tokens
          ), used AS (
            UPDATE api_keys SET last_used_at = ${start.startedAt} WHERE id = ${keyId}
          )
          INSERT INTO request_log (key_id, day, started_at, route, model, reserved_tokens)
          VALUES (${keyId}, ${w.day}, ${start.startedAt}, ${start.route}, ${start.model},
            ${decision.reservation})
          RETURNING id`,
        tx`COMMIT`,
      ]);
      return { decision, requestId: Number(logged.id) };
    } catch (err) {
      usable = deciding || connectionUsable(err);
      if (usable) {
        await tx`ROLLBACK`.catch((e) => {
          usable = connectionUsable(e);
        });
      }
      throw err;
    } finally {
      // A connection that went away is left alone: the pool has already taken it back as closed.
      if (usable) tx.release();
    }
  }

  async settle(s: Settlement): Promise<void> {
    // One statement is atomic on its own: one round trip, no BEGIN/COMMIT. The ledger row is
    // locked first, the order releaseStale locks in too, so the two cannot deadlock; FOR UPDATE
    // sees the state of a releaseStale it waited for. Abandoned: releaseStale already released
    // the reservation and kept the unit charged. Settled (a duplicate) or gone: no-op.
    await this.#sql`
      WITH prior AS (
        SELECT id, state FROM request_log
         WHERE id = ${s.requestId} AND state IN ('pending', 'abandoned')
         FOR UPDATE
      ), logged AS (
        UPDATE request_log SET state = 'settled',
          charged = ${s.charged} OR prior.state = 'abandoned', status = ${s.status},
          prompt_tokens = ${s.charged ? s.promptTokens : 0},
          completion_tokens = ${s.charged ? s.completionTokens : 0},
          estimated = ${s.estimated}, duration_ms = ${s.durationMs}
        FROM prior WHERE request_log.id = prior.id
        RETURNING prior.state AS was, request_log.charged, request_log.prompt_tokens,
          request_log.completion_tokens
      )
      UPDATE usage_daily SET
        reserved_tokens = usage_daily.reserved_tokens
          - CASE WHEN logged.was = 'pending' THEN ${s.reservation}::bigint ELSE 0 END,
        requests = usage_daily.requests - CASE WHEN logged.charged THEN 0 ELSE 1 END,
        prompt_tokens = usage_daily.prompt_tokens + logged.prompt_tokens,
        completion_tokens = usage_daily.completion_tokens + logged.completion_tokens
      FROM logged WHERE usage_daily.key_id = ${s.keyId} AND usage_daily.day = ${s.day}`;
  }

  async releaseStale(startedBefore: string): Promise<number> {
    return await this.#sql.begin(async (tx) => {
      // SKIP LOCKED: another gateway reaping at the same moment takes the other rows.
      const stale = await tx`
        SELECT id, key_id, day, reserved_tokens FROM request_log
         WHERE state = 'pending' AND started_at < ${startedBefore}
         FOR UPDATE SKIP LOCKED`;
      for (const row of stale) {
        await tx`
          UPDATE usage_daily SET reserved_tokens = reserved_tokens - ${row.reserved_tokens}
           WHERE key_id = ${row.key_id} AND day = ${row.day}`;
        await tx`
          UPDATE request_log SET state = 'abandoned', charged = TRUE, estimated = TRUE
           WHERE id = ${row.id}`;
      }
      return stale.length;
    });
  }

  async audit(): Promise<AuditDifference[]> {
    // Constant SQL without values; NUMERIC sums arrive as strings, which auditDifferences reads.
    return auditDifferences(await this.#sql.unsafe(AUDIT_SQL));
  }
}
