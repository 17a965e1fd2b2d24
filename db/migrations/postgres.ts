/**
 * Numbered PostgreSQL migrations; append only, never edit an applied one.
 * The schema mirrors db/migrations/sqlite.ts table for table and column for column. `day` stays
 * TEXT 'YYYY-MM-DD' so the window logic (day >= monthStart AND day < monthEnd) is identical.
 * @module
 */
import {
  COUNTER_LIST,
  counterColumns,
  ENDING_OF_STATUS,
  LEDGER_DIMENSIONS,
  LEDGER_SUMS,
  ledgerRows,
  ROLLUP_SUMS,
} from "../rollup_sql.ts";

export const postgresMigrations: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: "initial",
    sql: `
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE api_keys (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  active BOOLEAN NOT NULL DEFAULT TRUE,
  created_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ,
  last_used_at TIMESTAMPTZ,
  daily_request_limit BIGINT,
  monthly_request_limit BIGINT,
  daily_token_limit BIGINT,
  monthly_token_limit BIGINT
);
CREATE TABLE usage_daily (
  key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  day TEXT NOT NULL,
  requests BIGINT NOT NULL DEFAULT 0,
  prompt_tokens BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  reserved_tokens BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (key_id, day)
);
CREATE TABLE request_log (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  day TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  route TEXT NOT NULL,
  model TEXT NOT NULL,
  upstream TEXT,
  state TEXT NOT NULL DEFAULT 'pending',
  charged BOOLEAN,
  status INTEGER,
  reserved_tokens BIGINT NOT NULL DEFAULT 0,
  prompt_tokens BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  estimated BOOLEAN NOT NULL DEFAULT FALSE,
  duration_ms BIGINT
);
CREATE INDEX request_log_key_day ON request_log (key_id, day);
CREATE INDEX request_log_pending ON request_log (state) WHERE state = 'pending';
`,
  },
  {
    version: 2,
    name: "policies, groups, members, counters per owner and window, gateway heartbeats",
    sql: `
ALTER TABLE api_keys ADD COLUMN policy TEXT NOT NULL DEFAULT '{"limits":[]}',
  ADD COLUMN activated_at TIMESTAMPTZ, ADD COLUMN delegation TEXT,
  -- Deleted keys stay, hidden, so the ledger keeps who used what.
  ADD COLUMN deleted_at TIMESTAMPTZ;
UPDATE api_keys SET policy = jsonb_build_object(
  'limits', (SELECT COALESCE(jsonb_agg(jsonb_build_object('metric', m, 'window', w, 'max', v)
                               ORDER BY o), '[]'::jsonb) FROM (
    SELECT 1 AS o, 'requests' AS m, 'day' AS w, daily_request_limit AS v
     WHERE daily_request_limit IS NOT NULL
    UNION ALL SELECT 2, 'requests', 'month', monthly_request_limit
     WHERE monthly_request_limit IS NOT NULL
    UNION ALL SELECT 3, 'tokens', 'day', daily_token_limit WHERE daily_token_limit IS NOT NULL
    UNION ALL SELECT 4, 'tokens', 'month', monthly_token_limit
     WHERE monthly_token_limit IS NOT NULL) AS l),
  'models', NULL, 'max_output_tokens', NULL, 'max_num_ctx', NULL, 'idle_days', NULL)::text;
ALTER TABLE api_keys DROP COLUMN daily_request_limit, DROP COLUMN monthly_request_limit,
  DROP COLUMN daily_token_limit, DROP COLUMN monthly_token_limit;
CREATE TABLE key_groups (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  policy TEXT NOT NULL DEFAULT '{"limits":[]}',
  created_at TIMESTAMPTZ NOT NULL
);
ALTER TABLE api_keys ADD COLUMN group_id BIGINT REFERENCES key_groups(id);
CREATE TABLE key_members (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  external_id TEXT NOT NULL,
  email TEXT,
  name TEXT,
  role TEXT,
  blocked BOOLEAN NOT NULL DEFAULT FALSE,
  limits TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  last_seen_at TIMESTAMPTZ,
  UNIQUE (key_id, external_id)
);
-- Every owner of limits (a key, a group, a member) counts in the same table: its local days
-- ('day', YYYY-MM-DD) and UTC minutes ('minute', YYYY-MM-DDTHH:MM).
CREATE TABLE usage_counters (
  scope TEXT NOT NULL,
  owner_id BIGINT NOT NULL,
  period TEXT NOT NULL,
  bucket TEXT NOT NULL,
  requests BIGINT NOT NULL DEFAULT 0,
  prompt_tokens BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  reserved_tokens BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, owner_id, period, bucket)
);
INSERT INTO usage_counters (scope, owner_id, period, bucket, requests, prompt_tokens,
  completion_tokens, reserved_tokens)
SELECT 'key', key_id, 'day', day, requests, prompt_tokens, completion_tokens, reserved_tokens
  FROM usage_daily;
DROP TABLE usage_daily;
ALTER TABLE request_log ADD COLUMN minute TEXT,
  ADD COLUMN minute_scopes INTEGER NOT NULL DEFAULT 0, ADD COLUMN group_id BIGINT,
  ADD COLUMN member_id BIGINT, ADD COLUMN instance_id TEXT;
CREATE INDEX request_log_pending_key ON request_log (key_id) WHERE state = 'pending';
CREATE INDEX request_log_pending_group ON request_log (group_id) WHERE state = 'pending';
CREATE INDEX request_log_pending_member ON request_log (member_id) WHERE state = 'pending';
CREATE TABLE gateway_instances (
  id TEXT PRIMARY KEY,
  seen_at TIMESTAMPTZ NOT NULL
);
`,
  },
  {
    version: 3,
    name: "usage analytics: rollups per 15 minutes and per local day, request log columns",
    // Generated from the rollup rule once, when the module loads; the rule's columns only grow.
    sql: `
ALTER TABLE request_log ADD COLUMN bucket BIGINT, ADD COLUMN outcome TEXT,
  ADD COLUMN refused_by TEXT, ADD COLUMN ttfb_ms BIGINT, ADD COLUMN load_ms BIGINT,
  ADD COLUMN prompt_eval_ms BIGINT, ADD COLUMN eval_ms BIGINT;
UPDATE request_log SET bucket = (floor(extract(epoch FROM started_at) / 900) * 900000)::bigint,
  outcome = CASE WHEN state = 'abandoned' THEN 'abandoned'
                 WHEN state = 'settled' THEN ${ENDING_OF_STATUS} END;
-- The request log page and the export read newest first, optionally per key.
CREATE INDEX request_log_started ON request_log (started_at, id);
CREATE INDEX request_log_key_started ON request_log (key_id, started_at, id);
-- Rollups: one row per UTC 15-minute bucket (epoch ms) and dimensions. 0 and '' stand for
-- "none" in group_id, member_id and upstream (primary key columns cannot be NULL).
CREATE TABLE usage_15m (
  bucket BIGINT NOT NULL,
  key_id BIGINT NOT NULL,
  model TEXT NOT NULL,
  route TEXT NOT NULL,
  group_id BIGINT NOT NULL DEFAULT 0,
  member_id BIGINT NOT NULL DEFAULT 0,
  upstream TEXT NOT NULL DEFAULT '',
${counterColumns("BIGINT")},
  PRIMARY KEY (key_id, bucket, model, route, group_id, member_id, upstream)
);
CREATE INDEX usage_15m_bucket ON usage_15m (bucket);
-- The same without the key: all-keys charts read few rows.
CREATE TABLE usage_15m_all (
  bucket BIGINT NOT NULL,
  model TEXT NOT NULL,
  route TEXT NOT NULL,
  upstream TEXT NOT NULL DEFAULT '',
${counterColumns("BIGINT")},
  PRIMARY KEY (bucket, model, route, upstream)
);
-- Complete local days (in the zone named), compacted from the 15-minute rows.
CREATE TABLE usage_day (
  tz TEXT NOT NULL,
  day TEXT NOT NULL,
  key_id BIGINT NOT NULL,
  model TEXT NOT NULL,
  route TEXT NOT NULL,
  group_id BIGINT NOT NULL DEFAULT 0,
  member_id BIGINT NOT NULL DEFAULT 0,
  upstream TEXT NOT NULL DEFAULT '',
${counterColumns("BIGINT")},
  PRIMARY KEY (key_id, tz, day, model, route, group_id, member_id, upstream)
);
CREATE INDEX usage_day_tz_day ON usage_day (tz, day);
CREATE TABLE usage_day_all (
  tz TEXT NOT NULL,
  day TEXT NOT NULL,
  model TEXT NOT NULL,
  route TEXT NOT NULL,
  upstream TEXT NOT NULL DEFAULT '',
${counterColumns("BIGINT")},
  PRIMARY KEY (tz, day, model, route, upstream)
);
CREATE TABLE usage_compacted (
  tz TEXT NOT NULL,
  day TEXT NOT NULL,
  -- The day's UTC span, so queries need no zone arithmetic in SQL.
  from_ms BIGINT NOT NULL,
  to_ms BIGINT NOT NULL,
  compacted_at TEXT NOT NULL,
  PRIMARY KEY (tz, day)
);
-- What retention has deleted up to (the audit compares only what both sides still hold).
CREATE TABLE analytics_horizon (
  name TEXT PRIMARY KEY,
  -- The first instant (UTC ms) still held, and its local day.
  from_ms BIGINT NOT NULL,
  from_day TEXT NOT NULL
);
INSERT INTO usage_15m (bucket, key_id, model, route, group_id, member_id, upstream,
  ${COUNTER_LIST})
SELECT ${LEDGER_DIMENSIONS},
  ${LEDGER_SUMS}
  FROM ${ledgerRows("state IN ('settled', 'abandoned')")}
 GROUP BY ${LEDGER_DIMENSIONS};
INSERT INTO usage_15m_all (bucket, model, route, upstream, ${COUNTER_LIST})
SELECT bucket, model, route, upstream, ${ROLLUP_SUMS}
  FROM usage_15m GROUP BY bucket, model, route, upstream;
`,
  },
];
