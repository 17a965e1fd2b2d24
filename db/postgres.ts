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
  type Sql,
  type Types,
} from "./postgres_connect.ts";
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
import { admitted, type Ask, decide, type Snapshot } from "../core/admission.ts";
import { keyStatusAt } from "../core/api_keys.ts";
import type { ApiKey, ApiKeyPatch, KeyUsage, NewApiKey } from "../core/model.ts";
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

/** Most admissions (settlements) in one batch: bounds statement size and lock hold time. */
const MAX_BATCH = 500;

/**
 * Opens a pooled connection to PostgreSQL, waiting (bounded by `connectTimeoutSeconds`) for the
 * server to come up. Throws `Cannot connect to PostgreSQL at …` when it does not.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresOptions = {},
): Promise<PostgresStore> {
  return new PostgresStore(await connectPostgres(url, options));
}

/** One admitted job of a batch, as its writes need it. */
interface Admitted {
  index: number;
  keyId: number;
  job: AdmitJob;
  reservation: number;
  perMinute: boolean;
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
      INSERT INTO api_keys (name, prefix, key_hash, active, created_at, expires_at, policy)
      VALUES (${k.name}, ${k.prefix}, ${k.key_hash}, TRUE, ${k.created_at}, ${k.expires_at},
        ${policyToJson(k.policy)})
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
    for (const c of columns) {
      values[c] = c === "policy"
        ? policyToJson(patch.policy!)
        : patch[c] as string | boolean | null;
    }
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

  async liveUsageByKey(minute: string): Promise<Map<number, LiveUsage>> {
    const rows = await this.#sql`
      SELECT key_id, COUNT(*)::bigint AS in_flight, 0::bigint AS minute_requests,
             0::bigint AS minute_tokens
        FROM request_log WHERE state = 'pending' GROUP BY key_id
      UNION ALL
      SELECT key_id, 0, requests, tokens + reserved_tokens
        FROM usage_minute WHERE minute = ${minute}`;
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
          WITH days AS (
            SELECT key_id,
              COALESCE(SUM(requests) FILTER (WHERE day = ${w.day}), 0)::bigint AS day_requests,
              COALESCE(SUM(prompt_tokens + completion_tokens) FILTER (WHERE day = ${w.day}), 0)
                ::bigint AS day_tokens,
              COALESCE(SUM(reserved_tokens) FILTER (WHERE day = ${w.day}), 0)::bigint
                AS day_reserved,
              COALESCE(SUM(requests), 0)::bigint AS month_requests,
              COALESCE(SUM(prompt_tokens + completion_tokens), 0)::bigint AS month_tokens,
              COALESCE(SUM(reserved_tokens), 0)::bigint AS month_reserved
              FROM usage_daily
             WHERE key_id = ANY(${keyIds}::bigint[])
               AND day >= ${w.monthStart} AND day < ${w.monthEnd}
             GROUP BY key_id
          ), minutes AS (
            SELECT key_id, requests AS minute_requests, tokens AS minute_tokens,
                   reserved_tokens AS minute_reserved
              FROM usage_minute
             WHERE key_id = ANY(${keyIds}::bigint[]) AND minute = ${w.minute}
          ), flights AS (
            SELECT key_id, COUNT(*)::bigint AS in_flight FROM request_log
             WHERE key_id = ANY(${keyIds}::bigint[]) AND state = 'pending'
             GROUP BY key_id
          )
          SELECT k.id AS key_id, day_requests, day_tokens, day_reserved, month_requests,
                 month_tokens, month_reserved, minute_requests, minute_tokens, minute_reserved,
                 in_flight
            FROM unnest(${keyIds}::bigint[]) AS k(id)
            LEFT JOIN days ON days.key_id = k.id
            LEFT JOIN minutes ON minutes.key_id = k.id
            LEFT JOIN flights ON flights.key_id = k.id`,
      ]);
      const keys = new Map(keyRows.map((r) => [Number(r.id), toApiKey(r)]));
      const snapshots = new Map<number, Snapshot>(
        usageRows.map((r) => [Number(r.key_id), toSnapshot(r)]),
      );
      const outcomes: Array<{ ok: true; value: Admission } | { ok: false; err: unknown }> = [];
      const accepted: Admitted[] = [];
      // In arrival order, each decision seeing the admissions decided before it in the batch,
      // exactly as if each had run in its own transaction one after the other.
      for (const [index, job] of jobs.entries()) {
        const keyId = job.start.keyId;
        const key = keys.get(keyId);
        if (!key) {
          outcomes.push({ ok: true, value: { kind: "missing" } });
          continue;
        }
        if (keyStatusAt(key, job.nowMs) !== "active") {
          outcomes.push({ ok: true, value: { kind: "unusable", key } });
          continue;
        }
        const snapshot = snapshots.get(keyId)!;
        const decision = decide([{ scope: "key", policy: key.policy, snapshot }], job.ask);
        if (!decision.ok) {
          outcomes.push({ ok: true, value: { kind: "refused", decision } });
          continue;
        }
        // What the writes below add, for the decisions after this one (the same rule).
        snapshots.set(keyId, admitted(snapshot, decision.reservation));
        outcomes.push({ ok: true, value: { kind: "admitted", requestId: 0, decision } });
        accepted.push({
          index,
          keyId,
          job,
          reservation: decision.reservation,
          perMinute: key.policy.limits.some((l) => l.window === "minute"),
        });
      }
      if (accepted.length === 0) {
        // Nothing written: ROLLBACK, which unlike COMMIT does not wait for the WAL flush the
        // row locks' records would need. A refusal leaves counters and last_used_at alone.
        await tx`ROLLBACK`;
      } else {
        const ids = await this.#writeAdmissions(tx, w, accepted);
        for (const [i, a] of accepted.entries()) {
          (outcomes[a.index] as { value: { requestId: number } }).value.requestId = ids[i];
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
   * ledger ids in the order of `accepted`. Should the statement fail, the server answers the
   * COMMIT of the failed transaction with a rollback, and this throws.
   */
  async #writeAdmissions(
    tx: postgres.ReservedSql<Types>,
    w: WindowKeys,
    accepted: Admitted[],
  ): Promise<number[]> {
    const col = <T>(f: (a: Admitted) => T) => accepted.map(f);
    // Ledger ids are drawn in a CTE and inserted explicitly, so each job's id is known by its
    // ordinal rather than by the (unspecified) order RETURNING rows come back in. A CTE read
    // twice is evaluated once: one nextval per job. Counter rows are written day rows first,
    // then minute rows (the minute CTE reads the day CTE's output, which orders the two), each
    // in key order: the order settlement batches and releaseStale lock them in.
    const [rows] = await Promise.all([
      tx`
        WITH jobs AS (
          SELECT * FROM unnest(${col((a) => a.keyId)}::bigint[],
            ${col((a) => a.reservation)}::bigint[],
            ${col((a) => a.job.start.startedAt)}::timestamptz[],
            ${col((a) => a.job.start.route)}::text[], ${col((a) => a.job.start.model)}::text[],
            ${col((a) => a.job.start.instanceId)}::text[],
            ${col((a) => a.perMinute ? 1 : 0)}::integer[])
            WITH ORDINALITY AS j(key_id, reservation, started_at, route, model, instance_id,
              per_minute, ord)
        ), ids AS (
          SELECT ord, nextval(pg_get_serial_sequence('request_log', 'id')) AS id FROM jobs
        ), counted AS (
          INSERT INTO usage_daily (key_id, day, requests, reserved_tokens)
          SELECT key_id, ${w.day}, count(*), sum(reservation) FROM jobs GROUP BY key_id
           ORDER BY key_id
          ON CONFLICT (key_id, day) DO UPDATE SET
            requests = usage_daily.requests + excluded.requests,
            reserved_tokens = usage_daily.reserved_tokens + excluded.reserved_tokens
          RETURNING key_id
        ), minuted AS (
          INSERT INTO usage_minute (key_id, minute, requests, reserved_tokens)
          SELECT key_id, ${w.minute}, count(*), sum(reservation) FROM jobs
           WHERE per_minute = 1 AND EXISTS (SELECT 1 FROM counted)
           GROUP BY key_id ORDER BY key_id
          ON CONFLICT (key_id, minute) DO UPDATE SET
            requests = usage_minute.requests + excluded.requests,
            reserved_tokens = usage_minute.reserved_tokens + excluded.reserved_tokens
        ), used AS (
          UPDATE api_keys SET last_used_at = latest.started_at
            FROM (SELECT DISTINCT ON (key_id) key_id, started_at FROM jobs
                   ORDER BY key_id, ord DESC) AS latest
           WHERE api_keys.id = latest.key_id
        ), logged AS (
          INSERT INTO request_log (id, key_id, day, minute, instance_id, started_at, route, model,
            reserved_tokens)
          OVERRIDING SYSTEM VALUE
          SELECT ids.id, jobs.key_id, ${w.day},
                 CASE WHEN jobs.per_minute = 1 THEN ${w.minute} END, jobs.instance_id,
                 jobs.started_at, jobs.route, jobs.model, jobs.reservation
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

  /**
   * Settles a batch in one statement, which is atomic on its own: no BEGIN/COMMIT. This is
   * core/settlement.ts `counterChanges` in SQL (the store contract tests hold both to it):
   * pending → reservation released, unit given back unless charged; abandoned → late, charged,
   * nothing released; settled or gone → nothing.
   */
  async #settleBatch(all: Settlement[]): Promise<void> {
    // A second settlement of a request in the same batch is a no-op, as it is when it comes
    // later (the row is no longer pending): only the first of each request goes in.
    const seen = new Set<number>();
    const batch = all.filter((s) => !seen.has(s.requestId) && seen.add(s.requestId));
    const col = <T>(f: (s: Settlement) => T) => batch.map(f);
    // Ledger rows are locked first (id order), then the day counter rows (key, day order), then
    // the minute rows: the order releaseStale and admissions lock in too, so none of them can
    // deadlock with another gateway's batch. FOR UPDATE sees the state of a releaseStale it
    // waited for. Each lock step reads the one before it, so the steps run in that order.
    await this.#sql`
      WITH input AS (
        -- Flags travel as 0/1: postgres.js 3.4.9 sends a JS boolean array with the type of a
        -- single boolean, which the server refuses to cast to boolean[].
        SELECT request_id, charged <> 0 AS charged, prompt_tokens, completion_tokens,
               estimated <> 0 AS estimated, status, duration_ms
          FROM unnest(
          ${col((s) => s.requestId)}::bigint[],
          ${col((s) => s.charge.charged ? 1 : 0)}::integer[],
          ${col((s) => s.charge.charged ? s.charge.promptTokens : 0)}::bigint[],
          ${col((s) => s.charge.charged ? s.charge.completionTokens : 0)}::bigint[],
          ${col((s) => s.charge.estimated ? 1 : 0)}::integer[],
          ${col((s) => s.charge.status)}::integer[],
          ${col((s) => s.durationMs)}::bigint[])
          AS s(request_id, charged, prompt_tokens, completion_tokens, estimated, status,
            duration_ms)
      ), prior AS (
        SELECT id, state, key_id, day, minute, reserved_tokens FROM request_log
         WHERE id = ANY(${col((s) => s.requestId)}::bigint[])
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
        RETURNING prior.key_id, prior.day, prior.minute,
          CASE WHEN prior.state = 'pending' THEN prior.reserved_tokens ELSE 0 END AS released,
          CASE WHEN request_log.charged THEN 0 ELSE 1 END AS back,
          request_log.prompt_tokens, request_log.completion_tokens
      ), day_deltas AS (
        SELECT key_id, day, SUM(released) AS released, SUM(back) AS back,
          SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens
          FROM logged GROUP BY key_id, day
      ), day_locked AS (
        SELECT usage_daily.key_id, usage_daily.day
          FROM usage_daily JOIN day_deltas USING (key_id, day)
         ORDER BY usage_daily.key_id, usage_daily.day
         FOR UPDATE OF usage_daily
      ), days AS (
        UPDATE usage_daily SET
          reserved_tokens = usage_daily.reserved_tokens - day_deltas.released,
          requests = usage_daily.requests - day_deltas.back,
          prompt_tokens = usage_daily.prompt_tokens + day_deltas.prompt_tokens,
          completion_tokens = usage_daily.completion_tokens + day_deltas.completion_tokens
        FROM day_deltas JOIN day_locked USING (key_id, day)
        WHERE usage_daily.key_id = day_deltas.key_id AND usage_daily.day = day_deltas.day
        RETURNING usage_daily.key_id
      ), minute_deltas AS (
        SELECT key_id, minute, SUM(released) AS released, SUM(back) AS back,
          SUM(prompt_tokens + completion_tokens) AS tokens
          FROM logged WHERE minute IS NOT NULL AND EXISTS (SELECT 1 FROM days)
         GROUP BY key_id, minute
      ), minute_locked AS (
        SELECT usage_minute.key_id, usage_minute.minute
          FROM usage_minute JOIN minute_deltas USING (key_id, minute)
         ORDER BY usage_minute.key_id, usage_minute.minute
         FOR UPDATE OF usage_minute
      )
      UPDATE usage_minute SET
        reserved_tokens = usage_minute.reserved_tokens - minute_deltas.released,
        requests = usage_minute.requests - minute_deltas.back,
        tokens = usage_minute.tokens + minute_deltas.tokens
      FROM minute_deltas JOIN minute_locked USING (key_id, minute)
      WHERE usage_minute.key_id = minute_deltas.key_id
        AND usage_minute.minute = minute_deltas.minute`;
  }

  async heartbeat(instanceId: string, at: string): Promise<void> {
    await this.#sql`
      INSERT INTO gateway_instances (id, seen_at) VALUES (${instanceId}, ${at})
      ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`;
  }

  async releaseStale(cutoffs: StaleCutoffs): Promise<number> {
    return await this.#sql.begin(async (tx) => {
      // SKIP LOCKED: another gateway reaping at the same moment takes the other rows. Counter
      // rows are then updated in (key, day) order, the order admission and settlement batches
      // lock them in, so a reaper and a batch touching the same keys cannot deadlock.
      const stale = await tx`
        SELECT id, key_id, day, minute, reserved_tokens FROM request_log
         WHERE state = 'pending' AND (started_at < ${cutoffs.startedBefore} OR instance_id IN
           (SELECT id FROM gateway_instances WHERE seen_at < ${cutoffs.silentSince}))
         ORDER BY key_id, day, id
         FOR UPDATE SKIP LOCKED`;
      if (stale.length > 0) {
        // Each counter row updated once, with the sum of its requests' reservations: updating a
        // row a second time in one transaction re-runs its foreign-key check (the version is now
        // our own), which waits for the key row an admission batch holds FOR UPDATE while that
        // batch waits for this counter row: a deadlock. Map order is the (key, day) order above.
        const days = new Map<string, { keyId: number; at: string; tokens: number }>();
        const minutes = new Map<string, { keyId: number; at: string; tokens: number }>();
        const add = (
          map: typeof days,
          keyId: number,
          at: string,
          tokens: number,
        ) => {
          const c = map.get(`${keyId}/${at}`) ?? { keyId, at, tokens: 0 };
          c.tokens += tokens;
          map.set(`${keyId}/${at}`, c);
        };
        for (const row of stale) {
          add(days, row.key_id, row.day, row.reserved_tokens);
          if (row.minute !== null) add(minutes, row.key_id, row.minute, row.reserved_tokens);
        }
        for (const c of days.values()) {
          await tx`
            UPDATE usage_daily SET reserved_tokens = reserved_tokens - ${c.tokens}
             WHERE key_id = ${c.keyId} AND day = ${c.at}`;
        }
        const sorted = [...minutes.values()].sort((a, b) =>
          a.keyId - b.keyId || (a.at < b.at ? -1 : 1)
        );
        for (const c of sorted) {
          await tx`
            UPDATE usage_minute SET reserved_tokens = reserved_tokens - ${c.tokens}
             WHERE key_id = ${c.keyId} AND minute = ${c.at}`;
        }
        await tx`
          UPDATE request_log SET state = 'abandoned', charged = TRUE, estimated = TRUE
           WHERE id = ANY(${stale.map((row) => row.id)}::bigint[])`;
      }
      // Minutes long past are never read again; silent gateways' rows have nothing left.
      await tx`DELETE FROM usage_minute WHERE minute < ${cutoffs.minutesBefore.slice(0, 16)}`;
      await tx`
        DELETE FROM gateway_instances WHERE seen_at < ${cutoffs.silentSince} AND id NOT IN
          (SELECT instance_id FROM request_log
            WHERE state = 'pending' AND instance_id IS NOT NULL)`;
      return stale.length;
    });
  }

  async audit(): Promise<AuditDifference[]> {
    // Constant SQL without values; NUMERIC sums arrive as strings, which auditDifferences reads.
    return auditDifferences(await this.#sql.unsafe(AUDIT_SQL));
  }
}
