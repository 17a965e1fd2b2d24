import { SQLITE_V3 } from "./v3_analytics.ts";
import { V6_PENDING_INDEXES } from "./v6_pending_indexes.ts";
import { SQLITE_V7 } from "./v7_refusals.ts";
import { SQLITE_V8 } from "./v8_canonical_models.ts";
import { V9_OWNER_PENDING_INDEXES } from "./v9_owner_pending_indexes.ts";
import { LEDGER_INDEX_MIGRATIONS } from "./ledger_indexes.ts";
import { SQLITE_V12 } from "./v12_counters_without_rowid.ts";

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
    // Frozen text (db/migrations/v3_analytics.ts): an applied migration never changes.
    sql: SQLITE_V3,
  },
  {
    version: 4,
    name: "Ollama boxes (upstreams)",
    sql: `
-- One row per Ollama box. token is the bearer token sealed with core/secret_box.ts (never
-- plain text); max_in_flight NULL: no limit at the gateway (a lone box, Ollama queues itself).
CREATE TABLE upstreams (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  url TEXT NOT NULL,
  token TEXT,
  enabled INTEGER NOT NULL DEFAULT 1,
  max_in_flight INTEGER DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- No upstream_leases table here (PostgreSQL has one): a SQLite gateway is one process, which
-- counts the requests in flight per box in memory.
`,
  },
  {
    version: 5,
    name: "rollup audit: refusals logged as ledger rows counted per rollup row",
    sql: `
-- The refusals also logged as ledger rows (within the per-key cap): the rollup audit compares
-- them exactly with the ledger's refused rows. Filled from the ledger for what it still holds.
ALTER TABLE usage_15m ADD COLUMN refused_logged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_15m_all ADD COLUMN refused_logged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_day ADD COLUMN refused_logged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_day_all ADD COLUMN refused_logged INTEGER NOT NULL DEFAULT 0;
UPDATE usage_15m AS u SET refused_logged = l.n
  FROM (SELECT bucket, key_id, model, route, COALESCE(group_id, 0) AS group_id,
               COALESCE(member_id, 0) AS member_id, COALESCE(upstream, '') AS upstream,
               COUNT(*) AS n
          FROM request_log WHERE state = 'refused'
         GROUP BY bucket, key_id, model, route, COALESCE(group_id, 0), COALESCE(member_id, 0),
                  COALESCE(upstream, '')) AS l
 WHERE u.bucket = l.bucket AND u.key_id = l.key_id AND u.model = l.model
   AND u.route = l.route AND u.group_id = l.group_id AND u.member_id = l.member_id
   AND u.upstream = l.upstream;
UPDATE usage_15m_all AS u SET refused_logged = l.n
  FROM (SELECT bucket, model, route, upstream, SUM(refused_logged) AS n
          FROM usage_15m GROUP BY bucket, model, route, upstream) AS l
 WHERE u.bucket = l.bucket AND u.model = l.model AND u.route = l.route
   AND u.upstream = l.upstream;
UPDATE usage_day AS u SET refused_logged = l.n
  FROM (SELECT c.tz, c.day, r.key_id, r.model, r.route, r.group_id, r.member_id, r.upstream,
               SUM(r.refused_logged) AS n
          FROM usage_compacted c JOIN usage_15m r
            ON r.bucket >= c.from_ms AND r.bucket < c.to_ms
         GROUP BY c.tz, c.day, r.key_id, r.model, r.route, r.group_id, r.member_id,
                  r.upstream) AS l
 WHERE u.tz = l.tz AND u.day = l.day AND u.key_id = l.key_id AND u.model = l.model
   AND u.route = l.route AND u.group_id = l.group_id AND u.member_id = l.member_id
   AND u.upstream = l.upstream;
UPDATE usage_day_all AS u SET refused_logged = l.n
  FROM (SELECT c.tz, c.day, r.model, r.route, r.upstream, SUM(r.refused_logged) AS n
          FROM usage_compacted c JOIN usage_15m_all r
            ON r.bucket >= c.from_ms AND r.bucket < c.to_ms
         GROUP BY c.tz, c.day, r.model, r.route, r.upstream) AS l
 WHERE u.tz = l.tz AND u.day = l.day AND u.model = l.model AND u.route = l.route
   AND u.upstream = l.upstream;
`,
  },
  {
    version: 6,
    name: "partial index of in-flight rows by key, day and model (pending-usage reads)",
    sql: V6_PENDING_INDEXES,
  },
  {
    version: 7,
    name: "rollup refusals: past the logging cap (refusals_unlogged) and by a model list",
    // Frozen text (db/migrations/v7_refusals.ts). Version 6 is the pending-request indexes.
    sql: SQLITE_V7,
  },
  {
    version: 8,
    name:
      "one spelling per model: the ledger's and the rollups' models made canonical, rows merged",
    // Frozen text (db/migrations/v8_canonical_models.ts).
    sql: SQLITE_V8,
  },
  {
    version: 9,
    name: "in-flight rows without a group or member left out of those owners' partial indexes",
    // Frozen text (db/migrations/v9_owner_pending_indexes.ts), the same in both dialects.
    sql: V9_OWNER_PENDING_INDEXES,
  },
  // 10 and 11 (db/migrations/ledger_indexes.ts), the same in both dialects.
  ...LEDGER_INDEX_MIGRATIONS,
  {
    version: 12,
    name: "usage counters stored in their primary key's b-tree (WITHOUT ROWID)",
    // Frozen text (db/migrations/v12_counters_without_rowid.ts); SQLite only.
    sql: SQLITE_V12,
  },
];
