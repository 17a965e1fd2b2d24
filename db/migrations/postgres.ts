/**
 * Numbered PostgreSQL migrations; append only, never edit an applied one.
 * The schema mirrors db/migrations/sqlite.ts table for table and column for column. `day` stays
 * TEXT 'YYYY-MM-DD' so the window logic (day >= monthStart AND day < monthEnd) is identical.
 * @module
 */
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
];
