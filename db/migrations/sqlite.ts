import {
  COUNTER_LIST,
  counterColumns,
  ENDING_OF_STATUS,
  LEDGER_DIMENSIONS,
  LEDGER_SUMS,
  ledgerRows,
  ROLLUP_SUMS,
} from "../rollup_sql.ts";

/** Numbered SQLite migrations; append only, never edit an applied one. */
export const sqliteMigrations: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: "initial",
    sql: `
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE api_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  expires_at TEXT,
  last_used_at TEXT,
  daily_request_limit INTEGER,
  monthly_request_limit INTEGER,
  daily_token_limit INTEGER,
  monthly_token_limit INTEGER
);
CREATE TABLE usage_daily (
  key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  day TEXT NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  reserved_tokens INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (key_id, day)
);
CREATE TABLE request_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  day TEXT NOT NULL,
  started_at TEXT NOT NULL,
  route TEXT NOT NULL,
  model TEXT NOT NULL,
  upstream TEXT,
  state TEXT NOT NULL DEFAULT 'pending',
  charged INTEGER,
  status INTEGER,
  reserved_tokens INTEGER NOT NULL DEFAULT 0,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  estimated INTEGER NOT NULL DEFAULT 0,
  duration_ms INTEGER
);
CREATE INDEX request_log_key_day ON request_log (key_id, day);
CREATE INDEX request_log_pending ON request_log (state) WHERE state = 'pending';
`,
  },
  {
    version: 2,
    name: "policies, groups, members, counters per owner and window, gateway heartbeats",
    sql: `
ALTER TABLE api_keys ADD COLUMN policy TEXT NOT NULL DEFAULT '{"limits":[]}';
ALTER TABLE api_keys ADD COLUMN activated_at TEXT;
ALTER TABLE api_keys ADD COLUMN delegation TEXT;
-- Deleted keys stay, hidden, so the ledger keeps who used what.
ALTER TABLE api_keys ADD COLUMN deleted_at TEXT;
UPDATE api_keys SET policy = json_object(
  'limits', (SELECT json_group_array(json_object('metric', m, 'window', w, 'max', v)) FROM (
    SELECT 'requests' AS m, 'day' AS w, daily_request_limit AS v WHERE daily_request_limit IS NOT NULL
    UNION ALL SELECT 'requests', 'month', monthly_request_limit WHERE monthly_request_limit IS NOT NULL
    UNION ALL SELECT 'tokens', 'day', daily_token_limit WHERE daily_token_limit IS NOT NULL
    UNION ALL SELECT 'tokens', 'month', monthly_token_limit WHERE monthly_token_limit IS NOT NULL)),
  'models', json('null'), 'max_output_tokens', json('null'), 'max_num_ctx', json('null'),
  'idle_days', json('null'));
ALTER TABLE api_keys DROP COLUMN daily_request_limit;
ALTER TABLE api_keys DROP COLUMN monthly_request_limit;
ALTER TABLE api_keys DROP COLUMN daily_token_limit;
ALTER TABLE api_keys DROP COLUMN monthly_token_limit;
CREATE TABLE key_groups (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  policy TEXT NOT NULL DEFAULT '{"limits":[]}',
  created_at TEXT NOT NULL
);
ALTER TABLE api_keys ADD COLUMN group_id INTEGER REFERENCES key_groups(id);
CREATE TABLE key_members (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  external_id TEXT NOT NULL,
  email TEXT,
  name TEXT,
  role TEXT,
  blocked INTEGER NOT NULL DEFAULT 0,
  limits TEXT,
  created_at TEXT NOT NULL,
  last_seen_at TEXT,
  UNIQUE (key_id, external_id)
);
-- Every owner of limits (a key, a group, a member) counts in the same table: its local days
-- ('day', YYYY-MM-DD) and UTC minutes ('minute', YYYY-MM-DDTHH:MM).
CREATE TABLE usage_counters (
  scope TEXT NOT NULL,
  owner_id INTEGER NOT NULL,
  period TEXT NOT NULL,
  bucket TEXT NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  reserved_tokens INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, owner_id, period, bucket)
);
INSERT INTO usage_counters (scope, owner_id, period, bucket, requests, prompt_tokens,
  completion_tokens, reserved_tokens)
SELECT 'key', key_id, 'day', day, requests, prompt_tokens, completion_tokens, reserved_tokens
  FROM usage_daily;
DROP TABLE usage_daily;
ALTER TABLE request_log ADD COLUMN minute TEXT;
ALTER TABLE request_log ADD COLUMN minute_scopes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_log ADD COLUMN group_id INTEGER;
ALTER TABLE request_log ADD COLUMN member_id INTEGER;
ALTER TABLE request_log ADD COLUMN instance_id TEXT;
CREATE INDEX request_log_pending_key ON request_log (key_id) WHERE state = 'pending';
CREATE INDEX request_log_pending_group ON request_log (group_id) WHERE state = 'pending';
CREATE INDEX request_log_pending_member ON request_log (member_id) WHERE state = 'pending';
CREATE TABLE gateway_instances (
  id TEXT PRIMARY KEY,
  seen_at TEXT NOT NULL
);
`,
  },
  {
    version: 3,
    name: "usage analytics: rollups per 15 minutes and per local day, request log columns",
    // Generated from the rollup rule once, when the module loads; the rule's columns only grow.
    sql: `
ALTER TABLE request_log ADD COLUMN bucket INTEGER;
ALTER TABLE request_log ADD COLUMN outcome TEXT;
ALTER TABLE request_log ADD COLUMN refused_by TEXT;
ALTER TABLE request_log ADD COLUMN ttfb_ms INTEGER;
ALTER TABLE request_log ADD COLUMN load_ms INTEGER;
ALTER TABLE request_log ADD COLUMN prompt_eval_ms INTEGER;
ALTER TABLE request_log ADD COLUMN eval_ms INTEGER;
UPDATE request_log SET bucket = (CAST(strftime('%s', started_at) AS INTEGER) / 900) * 900000,
  outcome = CASE WHEN state = 'abandoned' THEN 'abandoned'
                 WHEN state = 'settled' THEN ${ENDING_OF_STATUS} END;
-- The request log page and the export read newest first, optionally per key.
CREATE INDEX request_log_started ON request_log (started_at, id);
CREATE INDEX request_log_key_started ON request_log (key_id, started_at, id);
-- Rollups: one row per UTC 15-minute bucket (epoch ms) and dimensions. 0 and '' stand for
-- "none" in group_id, member_id and upstream (primary key columns cannot be NULL).
CREATE TABLE usage_15m (
  bucket INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  model TEXT NOT NULL,
  route TEXT NOT NULL,
  group_id INTEGER NOT NULL DEFAULT 0,
  member_id INTEGER NOT NULL DEFAULT 0,
  upstream TEXT NOT NULL DEFAULT '',
${counterColumns("INTEGER")},
  PRIMARY KEY (key_id, bucket, model, route, group_id, member_id, upstream)
) WITHOUT ROWID;
CREATE INDEX usage_15m_bucket ON usage_15m (bucket);
-- The same without the key: all-keys charts read few rows.
CREATE TABLE usage_15m_all (
  bucket INTEGER NOT NULL,
  model TEXT NOT NULL,
  route TEXT NOT NULL,
  upstream TEXT NOT NULL DEFAULT '',
${counterColumns("INTEGER")},
  PRIMARY KEY (bucket, model, route, upstream)
) WITHOUT ROWID;
-- Complete local days (in the zone named), compacted from the 15-minute rows.
CREATE TABLE usage_day (
  tz TEXT NOT NULL,
  day TEXT NOT NULL,
  key_id INTEGER NOT NULL,
  model TEXT NOT NULL,
  route TEXT NOT NULL,
  group_id INTEGER NOT NULL DEFAULT 0,
  member_id INTEGER NOT NULL DEFAULT 0,
  upstream TEXT NOT NULL DEFAULT '',
${counterColumns("INTEGER")},
  PRIMARY KEY (key_id, tz, day, model, route, group_id, member_id, upstream)
) WITHOUT ROWID;
CREATE INDEX usage_day_tz_day ON usage_day (tz, day);
CREATE TABLE usage_day_all (
  tz TEXT NOT NULL,
  day TEXT NOT NULL,
  model TEXT NOT NULL,
  route TEXT NOT NULL,
  upstream TEXT NOT NULL DEFAULT '',
${counterColumns("INTEGER")},
  PRIMARY KEY (tz, day, model, route, upstream)
) WITHOUT ROWID;
CREATE TABLE usage_compacted (
  tz TEXT NOT NULL,
  day TEXT NOT NULL,
  -- The day's UTC span, so queries need no zone arithmetic in SQL.
  from_ms INTEGER NOT NULL,
  to_ms INTEGER NOT NULL,
  compacted_at TEXT NOT NULL,
  PRIMARY KEY (tz, day)
);
-- What retention has deleted up to (the audit compares only what both sides still hold).
CREATE TABLE analytics_horizon (
  name TEXT PRIMARY KEY,
  -- The first instant (UTC ms) still held, and its local day.
  from_ms INTEGER NOT NULL,
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
