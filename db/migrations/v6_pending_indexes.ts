/**
 * Migration 6, the same in both dialects: the in-flight reads by key read only in-flight rows.
 * @module
 */

/**
 * The pending-usage read (PENDING_USAGE_SQL: one key's in-flight rows by day and model) used
 * `request_log_key_day` on SQLite, i.e. every ledger row the key ever had, then sorted them.
 * This partial index holds in-flight rows only, in the read's order. It serves the in-flight
 * count per key as well (key_id leads), so `request_log_pending_key` goes: each admission and
 * settlement still maintains one partial index per owner, not one more.
 */
export const V6_PENDING_INDEXES = `
CREATE INDEX request_log_pending_key_day ON request_log (key_id, day, model)
  WHERE state = 'pending';
DROP INDEX request_log_pending_key;
`;
