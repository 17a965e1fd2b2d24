/**
 * Migration 10, the same in both dialects: the ledger loses an index no query reads.
 * @module
 */

/**
 * `request_log_key_day` (key_id, day) came with the first schema, when the day counters were
 * summed from the ledger. Since then the counters live in usage_counters, the in-flight reads use
 * `request_log_pending_key_day` (migration 6), the request list and a key's cascade delete use
 * `request_log_key_started` (key_id leads), and pruning uses `request_log_started`. Every
 * admission still inserted one entry into it, at a position that jumps from key to key: work on
 * the hot path for no reader (EXPLAIN on both dialects in tests/db/ledger_indexes_test.ts).
 */
export const V10_DROP_KEY_DAY_INDEX = `
DROP INDEX request_log_key_day;
`;
