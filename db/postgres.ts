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
  settingRows,
  toApiKey,
  toSettings,
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

/** An admission waiting for, or part of, a batch. */
interface AdmitJob extends PromiseWithResolvers<Admission | null> {
  start: RequestStart;
  decide: (key: ApiKey, usage: WindowUsage) => Decision;
}

/** A settlement waiting for, or part of, a batch. */
interface SettleJob extends PromiseWithResolvers<void> {
  settlement: Settlement;
}

/** Most admissions (settlements) in one batch: bounds statement size and lock hold time. */
const MAX_BATCH = 500;

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
  /** Admissions waiting for the batch in flight to finish. */
  #admitQueue: AdmitJob[] = [];
  /** The loop running admission batches, while there is one. */
  #admitLoop: Promise<void> | null = null;
  /** Settlements waiting for the statement in flight to finish. */
  #settleQueue: SettleJob[] = [];
  /** The loop running settlement batches, while there is one. */
  #settleLoop: Promise<void> | null = null;

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
    // Queued admissions and settlements run to completion first: each loop settles its own
    // promises, and a job left queued behind a closed pool would never be answered.
    while (this.#admitLoop || this.#settleLoop) {
      await Promise.all([this.#admitLoop, this.#settleLoop]);
    }
    await this.#sql.end({ timeout: 5 });
  }

  async seedSettings(defaults: Partial<Settings>): Promise<void> {
    await this.#sql.begin(async (tx) => {
      for (const [name, value] of settingRows(defaults)) {
        await tx`INSERT INTO settings (name, value) VALUES (${name}, ${value})
                 ON CONFLICT (name) DO NOTHING`;
      }
    });
  }

  async getSettings(): Promise<Settings> {
    return toSettings(await this.#sql`SELECT name, value FROM settings`);
  }

  async updateSettings(patch: Partial<Settings>): Promise<Settings> {
    await this.#sql.begin(async (tx) => {
      for (const [name, value] of settingRows(patch)) {
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

  admit(
    start: RequestStart,
    decide: (key: ApiKey, usage: WindowUsage) => Decision,
  ): Promise<Admission | null> {
    const job: AdmitJob = { start, decide, ...Promise.withResolvers<Admission | null>() };
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
        // the others (a batch straddling midnight) go to the next batch.
        const w = this.#admitQueue[0].start.windows;
        const batch: AdmitJob[] = [];
        const rest: AdmitJob[] = [];
        for (const job of this.#admitQueue) {
          const jw = job.start.windows;
          const same = jw.day === w.day && jw.monthStart === w.monthStart &&
            jw.monthEnd === w.monthEnd;
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
    let tx: postgres.ReservedSql<Types>;
    try {
      // A reserved connection rather than sql.begin(): begin() awaits BEGIN alone and COMMIT
      // alone, two extra round trips, the COMMIT one while the row locks are held. Here
      // postgres.js pipelines the statements given together (each carries its own Sync, so they
      // still run one after the other on the server): two round trips per batch.
      tx = await this.#sql.reserve();
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    let usable = true;
    try {
      const [, keyRows, usageRows] = await Promise.all([
        tx`BEGIN`,
        // The row locks serialise admissions of these keys until commit, across all
        // connections and gateways; taken in id order so two batches cannot deadlock.
        tx`SELECT * FROM api_keys WHERE id = ANY(${keyIds}::bigint[]) ORDER BY id FOR UPDATE`,
        // Its own statement, so under READ COMMITTED it takes a fresh snapshot when it starts,
        // which is after the locks above are granted: it sees everything the previous holders
        // committed. Folded into the locking statement it would keep the snapshot taken
        // before the lock wait and miss that.
        tx`
          SELECT key_id,
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
           WHERE key_id = ANY(${keyIds}::bigint[])
             AND (day = ${w.day} OR (day >= ${w.monthStart} AND day < ${w.monthEnd}))
           GROUP BY key_id`,
      ]);
      const keys = new Map(keyRows.map((r) => [Number(r.id), r]));
      const usages = new Map(usageRows.map((r) => [Number(r.key_id), toWindowUsageRow(r)]));
      const dayInMonth = w.day >= w.monthStart && w.day < w.monthEnd;
      const outcomes: Array<{ ok: true; value: Admission | null } | { ok: false; err: unknown }> =
        [];
      const admitted: Array<{ index: number; keyId: number; job: AdmitJob; reservation: number }> =
        [];
      // In arrival order, each decision seeing the admissions decided before it in the batch,
      // exactly as if each had run in its own transaction one after the other.
      for (const [index, job] of jobs.entries()) {
        const keyId = job.start.keyId;
        const row = keys.get(keyId);
        if (!row) {
          outcomes.push({ ok: true, value: null });
          continue;
        }
        const usage = usages.get(keyId) ?? toWindowUsageRow({});
        let decision: Decision;
        try {
          // Copies: decide must not see (or change) the running totals.
          decision = job.decide(toApiKey(row), {
            day: { ...usage.day },
            month: { ...usage.month },
          });
        } catch (err) {
          // A throwing decide refuses this job alone, recording nothing for it.
          outcomes.push({ ok: false, err });
          continue;
        }
        if (!decision.ok) {
          outcomes.push({ ok: true, value: { decision, requestId: null } });
          continue;
        }
        // What the writes below will add for this admission, for the decisions after it.
        usage.day.requests += 1;
        usage.day.reserved += decision.reservation;
        if (dayInMonth) {
          usage.month.requests += 1;
          usage.month.reserved += decision.reservation;
        }
        usages.set(keyId, usage);
        outcomes.push({ ok: true, value: { decision, requestId: null } });
        admitted.push({ index, keyId, job, reservation: decision.reservation });
      }
      if (admitted.length === 0) {
        // Nothing written: ROLLBACK, which unlike COMMIT does not wait for the WAL flush the
        // row locks' records would need. A refusal leaves counters and last_used_at alone.
        await tx`ROLLBACK`;
      } else {
        const ids = await this.#writeAdmissions(tx, w, admitted);
        for (const [i, a] of admitted.entries()) {
          (outcomes[a.index] as { value: Admission }).value.requestId = ids[i];
        }
      }
      // Answered only now: after COMMIT succeeded, or after the ROLLBACK of a batch that wrote
      // nothing.
      for (const [i, job] of jobs.entries()) {
        const o = outcomes[i];
        if (o.ok) job.resolve(o.value);
        else job.reject(o.err);
      }
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
   * Writes the batch's admissions in one statement pipelined with COMMIT and returns their
   * ledger ids in the order of `admitted`. Should the statement fail, the server answers the
   * COMMIT of the failed transaction with a rollback, and this throws.
   */
  async #writeAdmissions(
    tx: postgres.ReservedSql<Types>,
    w: WindowKeys,
    admitted: Array<{ keyId: number; job: AdmitJob; reservation: number }>,
  ): Promise<number[]> {
    const keyIds = admitted.map((a) => a.keyId);
    const reservations = admitted.map((a) => a.reservation);
    const startedAt = admitted.map((a) => a.job.start.startedAt);
    const routes = admitted.map((a) => a.job.start.route);
    const models = admitted.map((a) => a.job.start.model);
    // Ledger ids are drawn in a CTE and inserted explicitly, so each job's id is known by its
    // ordinal rather than by the (unspecified) order RETURNING rows come back in. A CTE read
    // twice is evaluated once: one nextval per job.
    const [rows] = await Promise.all([
      tx`
        WITH jobs AS (
          SELECT * FROM unnest(${keyIds}::bigint[], ${reservations}::bigint[],
            ${startedAt}::timestamptz[], ${routes}::text[], ${models}::text[])
            WITH ORDINALITY AS j(key_id, reservation, started_at, route, model, ord)
        ), ids AS (
          SELECT ord, nextval(pg_get_serial_sequence('request_log', 'id')) AS id FROM jobs
        ), counted AS (
          INSERT INTO usage_daily (key_id, day, requests, reserved_tokens)
          -- Counter rows locked in key order, as settlement batches and releaseStale do.
          SELECT key_id, ${w.day}, count(*), sum(reservation) FROM jobs GROUP BY key_id
           ORDER BY key_id
          ON CONFLICT (key_id, day) DO UPDATE SET
            requests = usage_daily.requests + excluded.requests,
            reserved_tokens = usage_daily.reserved_tokens + excluded.reserved_tokens
        ), used AS (
          UPDATE api_keys SET last_used_at = latest.started_at
            FROM (SELECT DISTINCT ON (key_id) key_id, started_at FROM jobs
                   ORDER BY key_id, ord DESC) AS latest
           WHERE api_keys.id = latest.key_id
        ), logged AS (
          INSERT INTO request_log (id, key_id, day, started_at, route, model, reserved_tokens)
          OVERRIDING SYSTEM VALUE
          SELECT ids.id, jobs.key_id, ${w.day}, jobs.started_at, jobs.route, jobs.model,
                 jobs.reservation
            FROM jobs JOIN ids USING (ord)
        )
        SELECT id FROM ids ORDER BY ord`,
      tx`COMMIT`,
    ]);
    return rows.map((r) => Number(r.id));
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

  /** Settles a batch in one statement, which is atomic on its own: no BEGIN/COMMIT. */
  async #settleBatch(all: Settlement[]): Promise<void> {
    // A second settlement of a request in the same batch is a no-op, as it is when it comes
    // later (the row is no longer pending): only the first of each request goes in.
    const seen = new Set<number>();
    const batch = all.filter((s) => !seen.has(s.requestId) && seen.add(s.requestId));
    // Ledger rows are locked first (id order), then the counter rows (key, day order): the
    // order releaseStale and admissions lock in too, so none of them can deadlock with another
    // gateway's batch. FOR UPDATE sees the state of a releaseStale it waited for. Abandoned:
    // releaseStale already released the reservation and kept the unit charged. Settled (a
    // duplicate) or gone: no-op. The GROUP BY in `deltas` needs every ledger row first, so no
    // counter row is locked while a ledger lock is still awaited.
    await this.#sql`
      WITH input AS (
        -- Flags travel as 0/1: postgres.js 3.4.9 sends a JS boolean array with the type of a
        -- single boolean, which the server refuses to cast to boolean[].
        SELECT request_id, key_id, day, reservation, charged <> 0 AS charged, prompt_tokens,
               completion_tokens, estimated <> 0 AS estimated, status, duration_ms
          FROM unnest(
          ${batch.map((s) => s.requestId)}::bigint[],
          ${batch.map((s) => s.keyId)}::bigint[],
          ${batch.map((s) => s.day)}::text[],
          ${batch.map((s) => s.reservation)}::bigint[],
          ${batch.map((s) => s.charged ? 1 : 0)}::integer[],
          ${batch.map((s) => s.charged ? s.promptTokens : 0)}::bigint[],
          ${batch.map((s) => s.charged ? s.completionTokens : 0)}::bigint[],
          ${batch.map((s) => s.estimated ? 1 : 0)}::integer[],
          ${batch.map((s) => s.status)}::integer[],
          ${batch.map((s) => s.durationMs)}::bigint[])
          AS s(request_id, key_id, day, reservation, charged, prompt_tokens, completion_tokens,
            estimated, status, duration_ms)
      ), prior AS (
        SELECT id, state FROM request_log
         WHERE id = ANY(${batch.map((s) => s.requestId)}::bigint[])
           AND state IN ('pending', 'abandoned')
         ORDER BY id
         FOR UPDATE
      ), logged AS (
        UPDATE request_log SET state = 'settled',
          charged = input.charged OR prior.state = 'abandoned', status = input.status,
          prompt_tokens = input.prompt_tokens, completion_tokens = input.completion_tokens,
          estimated = input.estimated, duration_ms = input.duration_ms
        FROM prior JOIN input ON input.request_id = prior.id
        WHERE request_log.id = prior.id
        RETURNING input.key_id, input.day, input.reservation, prior.state AS was,
          request_log.charged, request_log.prompt_tokens, request_log.completion_tokens
      ), deltas AS (
        SELECT key_id, day,
          SUM(CASE WHEN was = 'pending' THEN reservation ELSE 0 END) AS released,
          SUM(CASE WHEN charged THEN 0 ELSE 1 END) AS returned,
          SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens
          FROM logged GROUP BY key_id, day
      ), locked AS (
        SELECT usage_daily.key_id, usage_daily.day
          FROM usage_daily JOIN deltas USING (key_id, day)
         ORDER BY usage_daily.key_id, usage_daily.day
         FOR UPDATE OF usage_daily
      )
      UPDATE usage_daily SET
        reserved_tokens = usage_daily.reserved_tokens - deltas.released,
        requests = usage_daily.requests - deltas.returned,
        prompt_tokens = usage_daily.prompt_tokens + deltas.prompt_tokens,
        completion_tokens = usage_daily.completion_tokens + deltas.completion_tokens
      FROM deltas JOIN locked USING (key_id, day)
      WHERE usage_daily.key_id = deltas.key_id AND usage_daily.day = deltas.day`;
  }

  async releaseStale(startedBefore: string): Promise<number> {
    return await this.#sql.begin(async (tx) => {
      // SKIP LOCKED: another gateway reaping at the same moment takes the other rows. Counter
      // rows are then updated in (key, day) order, the order admission and settlement batches
      // lock them in, so a reaper and a batch touching the same keys cannot deadlock.
      const stale = await tx`
        SELECT id, key_id, day, reserved_tokens FROM request_log
         WHERE state = 'pending' AND started_at < ${startedBefore}
         ORDER BY key_id, day, id
         FOR UPDATE SKIP LOCKED`;
      if (stale.length === 0) return 0;
      // Each counter row updated once, with the sum of its requests' reservations: updating a
      // row a second time in one transaction re-runs its foreign-key check (the version is now
      // our own), which waits for the key row an admission batch holds FOR UPDATE while that
      // batch waits for this counter row: a deadlock. Map order is the (key, day) order above.
      const released = new Map<string, { keyId: number; day: string; tokens: number }>();
      for (const row of stale) {
        const at = `${row.key_id}/${row.day}`;
        const counter = released.get(at) ?? { keyId: row.key_id, day: row.day, tokens: 0 };
        counter.tokens += row.reserved_tokens;
        released.set(at, counter);
      }
      for (const c of released.values()) {
        await tx`
          UPDATE usage_daily SET reserved_tokens = reserved_tokens - ${c.tokens}
           WHERE key_id = ${c.keyId} AND day = ${c.day}`;
      }
      await tx`
        UPDATE request_log SET state = 'abandoned', charged = TRUE, estimated = TRUE
         WHERE id = ANY(${stale.map((row) => row.id)}::bigint[])`;
      return stale.length;
    });
  }

  async audit(): Promise<AuditDifference[]> {
    // Constant SQL without values; NUMERIC sums arrive as strings, which auditDifferences reads.
    return auditDifferences(await this.#sql.unsafe(AUDIT_SQL));
  }
}
