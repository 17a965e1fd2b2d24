/**
 * How long each analytics table keeps its rows, and when maintenance runs.
 * @module
 */

/**
 * Days the 15-minute rollups are kept: enough for hourly charts of the last 35 days. Complete
 * local days are compacted into the per-day rollups long before, and those are kept for good.
 */
export const ROLLUP_15M_RETENTION_DAYS = 35;

/** How often a gateway runs analytics maintenance (compaction, then retention). */
export const MAINTENANCE_INTERVAL_MS = 60 * 60_000;
