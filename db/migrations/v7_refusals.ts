/**
 * Migration 7's SQL (rollup refusal counters), frozen once applied: `refusals_unlogged`, the
 * refusals past the request log's per-key cap (counted in the rollups only), and
 * `refused_model`, the refusals by a model list (a key's own list included, answered through
 * admission since this version). Written out per dialect, never generated from the rollup
 * columns, so a later column cannot change it.
 * @module
 */

/** The statements of migration 7, with the dialect's counter type. */
function v7(type: string): string {
  return `
-- Refusals past the logging cap: every rollup row holds refused = refused_logged +
-- refusals_unlogged, which the rollup audit checks. Filled from what the rows already count.
ALTER TABLE usage_15m ADD COLUMN refusals_unlogged ${type} NOT NULL DEFAULT 0;
ALTER TABLE usage_15m_all ADD COLUMN refusals_unlogged ${type} NOT NULL DEFAULT 0;
ALTER TABLE usage_day ADD COLUMN refusals_unlogged ${type} NOT NULL DEFAULT 0;
ALTER TABLE usage_day_all ADD COLUMN refusals_unlogged ${type} NOT NULL DEFAULT 0;
UPDATE usage_15m SET refusals_unlogged = refused - refused_logged;
UPDATE usage_15m_all SET refusals_unlogged = refused - refused_logged;
UPDATE usage_day SET refusals_unlogged = refused - refused_logged;
UPDATE usage_day_all SET refusals_unlogged = refused - refused_logged;
-- Refusals by a model list, counted under refused_other until now: the ones the ledger still
-- holds move to refused_model (as the audit recomputes them); unlogged ones cannot be told
-- apart and stay under refused_other.
ALTER TABLE usage_15m ADD COLUMN refused_model ${type} NOT NULL DEFAULT 0;
ALTER TABLE usage_15m_all ADD COLUMN refused_model ${type} NOT NULL DEFAULT 0;
ALTER TABLE usage_day ADD COLUMN refused_model ${type} NOT NULL DEFAULT 0;
ALTER TABLE usage_day_all ADD COLUMN refused_model ${type} NOT NULL DEFAULT 0;
UPDATE usage_15m AS u SET refused_model = l.n, refused_other = u.refused_other - l.n
  FROM (SELECT bucket, key_id, model, route, COALESCE(group_id, 0) AS group_id,
               COALESCE(member_id, 0) AS member_id, COALESCE(upstream, '') AS upstream,
               COUNT(*) AS n
          FROM request_log
         WHERE state = 'refused' AND (refused_by = 'model_not_allowed'
                                      OR refused_by LIKE '%:model_not_allowed')
         GROUP BY bucket, key_id, model, route, COALESCE(group_id, 0), COALESCE(member_id, 0),
                  COALESCE(upstream, '')) AS l
 WHERE u.bucket = l.bucket AND u.key_id = l.key_id AND u.model = l.model
   AND u.route = l.route AND u.group_id = l.group_id AND u.member_id = l.member_id
   AND u.upstream = l.upstream;
UPDATE usage_15m_all AS u SET refused_model = l.n, refused_other = u.refused_other - l.n
  FROM (SELECT bucket, model, route, upstream, SUM(refused_model) AS n
          FROM usage_15m GROUP BY bucket, model, route, upstream) AS l
 WHERE u.bucket = l.bucket AND u.model = l.model AND u.route = l.route
   AND u.upstream = l.upstream;
UPDATE usage_day AS u SET refused_model = l.n, refused_other = u.refused_other - l.n
  FROM (SELECT c.tz, c.day, r.key_id, r.model, r.route, r.group_id, r.member_id, r.upstream,
               SUM(r.refused_model) AS n
          FROM usage_compacted c JOIN usage_15m r
            ON r.bucket >= c.from_ms AND r.bucket < c.to_ms
         GROUP BY c.tz, c.day, r.key_id, r.model, r.route, r.group_id, r.member_id,
                  r.upstream) AS l
 WHERE u.tz = l.tz AND u.day = l.day AND u.key_id = l.key_id AND u.model = l.model
   AND u.route = l.route AND u.group_id = l.group_id AND u.member_id = l.member_id
   AND u.upstream = l.upstream;
UPDATE usage_day_all AS u SET refused_model = l.n, refused_other = u.refused_other - l.n
  FROM (SELECT c.tz, c.day, r.model, r.route, r.upstream, SUM(r.refused_model) AS n
          FROM usage_compacted c JOIN usage_15m_all r
            ON r.bucket >= c.from_ms AND r.bucket < c.to_ms
         GROUP BY c.tz, c.day, r.model, r.route, r.upstream) AS l
 WHERE u.tz = l.tz AND u.day = l.day AND u.model = l.model AND u.route = l.route
   AND u.upstream = l.upstream;
`;
}

/** PostgreSQL migration 7. */
export const POSTGRES_V7 = v7("BIGINT");

/** SQLite migration 7. */
export const SQLITE_V7 = v7("INTEGER");
