/**
 * Migration 9, the same in both dialects: in-flight rows without a group or a member stay out
 * of the group's and the member's partial indexes.
 * @module
 */

/**
 * `request_log_pending_group` and `request_log_pending_member` held every in-flight row, the
 * many with a NULL group or member too, so each admission inserted into both and each
 * settlement deleted from both: 4 of the 18 WAL pages an admit + settle pair writes on SQLite
 * one request at a time (bench/wal_frames.ts). Their only readers count one owner's in-flight
 * rows (`group_id = ?`, `member_id = ANY(…)`, the snapshot's join on `r.group_id =
 * o.owner_id`), which imply `IS NOT NULL`, so both planners still use them (EXPLAIN on both
 * dialects in tests/db/owner_pending_indexes_test.ts).
 */
export const V9_OWNER_PENDING_INDEXES = `
DROP INDEX request_log_pending_group;
CREATE INDEX request_log_pending_group ON request_log (group_id)
  WHERE state = 'pending' AND group_id IS NOT NULL;
DROP INDEX request_log_pending_member;
CREATE INDEX request_log_pending_member ON request_log (member_id)
  WHERE state = 'pending' AND member_id IS NOT NULL;
`;
