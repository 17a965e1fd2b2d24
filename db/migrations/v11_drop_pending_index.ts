/**
 * Migration 11, the same in both dialects: the ledger loses a second index that only
 * duplicated another.
 * @module
 */

/**
 * `request_log_pending` (state) WHERE state = 'pending' holds the same rows as
 * `request_log_pending_key_day` (key_id, day, model) WHERE state = 'pending' (migration 6), with
 * less in each entry. Its readers select in-flight rows without naming a key (the reaper, the
 * live usage per key, the instances still holding rows), and both planners read the other
 * partial index for them just as well (EXPLAIN on both dialects in
 * tests/db/ledger_indexes_test.ts). Every admission inserted into it and every settlement
 * deleted from it: one WAL page of each transaction for no reader of its own.
 */
export const V11_DROP_PENDING_INDEX = `
DROP INDEX request_log_pending;
`;
