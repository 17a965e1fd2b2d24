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
    name: "policies, minute counters, gateway heartbeats",
    sql: `
ALTER TABLE api_keys ADD COLUMN policy TEXT NOT NULL DEFAULT '{"limits":[]}';
ALTER TABLE api_keys ADD COLUMN activated_at TEXT;
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
CREATE TABLE usage_minute (
  key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  minute TEXT NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0,
  reserved_tokens INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (key_id, minute)
);
ALTER TABLE request_log ADD COLUMN minute TEXT;
ALTER TABLE request_log ADD COLUMN instance_id TEXT;
CREATE INDEX request_log_pending_key ON request_log (key_id) WHERE state = 'pending';
CREATE TABLE gateway_instances (
  id TEXT PRIMARY KEY,
  seen_at TEXT NOT NULL
);
`,
  },
];
