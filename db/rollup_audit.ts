/**
 * The rollup audit, the same for both adapters: the 15-minute rollups recomputed from the
 * ledger (for the period both still hold), the key-less rollup against the keyed one, and the
 * per-day rollups against the 15-minute buckets they were compacted from.
 * @module
 */
import { ROLLUP_COLUMNS } from "../core/analytics/rollup.ts";
import type { RollupDifference } from "../core/store.ts";
import {
  dayAuditQueries,
  type Dialect,
  HORIZONS_SQL,
  keylessAuditQueries,
  ledgerRollupQuery,
  type Query,
  rollupRowsQuery,
} from "./analytics_sql.ts";

type Row = Record<string, unknown>;

/**
 * Refusal counters: beyond the logging cap a refusal is in the rollup only, so the rollup may
 * hold more than the ledger. `refused_logged` (the logged ones) is compared exactly, and every
 * rollup row must hold refused = refused_logged + refusals_unlogged (checked on its own).
 */
const REFUSALS = new Set([
  "refused",
  "refused_requests",
  "refused_tokens",
  "refused_concurrent",
  "refused_other",
  "refused_model",
]);

/** The field of a row whose refusals are not its logged plus its unlogged ones. */
export const REFUSALS_SPLIT = "refused (not refused_logged + refusals_unlogged)";

function index(rows: Row[], dims: string[]): Map<string, Row> {
  return new Map(rows.map((r) => [dims.map((d) => String(r[d])).join("|"), r]));
}

/**
 * Differences between two sets of rollup rows keyed by `dims`. With `capped`, the right side
 * (the ledger) may hold fewer refusals than the left (the rollup), and `requests` is compared
 * without refusals.
 */
function compare(
  table: RollupDifference["table"],
  dims: string[],
  rollup: Row[],
  ledger: Row[],
  capped: boolean,
): RollupDifference[] {
  const out: RollupDifference[] = [];
  const left = index(rollup, dims), right = index(ledger, dims);
  for (const at of new Set([...left.keys(), ...right.keys()])) {
    const l = left.get(at) ?? {}, r = right.get(at) ?? {};
    const n = (row: Row, c: string) => Number(row[c] ?? 0);
    // Checked on every rollup row, not only those the ledger still covers: a refusal lost or
    // counted twice past the cap shows here, where the ledger has nothing to compare.
    if (n(l, "refused") !== n(l, "refused_logged") + n(l, "refusals_unlogged")) {
      out.push({
        table,
        at,
        field: REFUSALS_SPLIT,
        rollup: n(l, "refused"),
        ledger: n(l, "refused_logged") + n(l, "refusals_unlogged"),
      });
    }
    for (const c of ROLLUP_COLUMNS) {
      // Only in the rollup (the ledger has no row for it): held by the split check above.
      if (capped && c === "refusals_unlogged") continue;
      let a = n(l, c), b = n(r, c);
      if (capped && c === "requests") {
        a -= n(l, "refused");
        b -= n(r, "refused");
      }
      const differs = capped && REFUSALS.has(c) ? a < b : a !== b;
      if (differs) {
        out.push({
          table,
          at,
          field: capped && c === "requests" ? "requests (refusals excluded)" : c,
          rollup: a,
          ledger: b,
        });
      }
    }
  }
  return out;
}

/** Runs the rollup audit with a dialect's query runner. */
export async function auditRollups(
  dialect: Dialect,
  all: (q: Query) => Promise<Row[]>,
): Promise<RollupDifference[]> {
  const horizons = new Map(
    (await all({ sql: HORIZONS_SQL, params: [] })).map((r) => [String(r.name), Number(r.from_ms)]),
  );
  const bucketsFrom = horizons.get("usage_15m") ?? 0;
  const bothFrom = Math.max(horizons.get("request_log") ?? 0, bucketsFrom);
  const keyDims = ["bucket", "key_id", "model", "route", "group_id", "member_id", "upstream"];
  const [ledger, rollup] = await Promise.all([
    all(ledgerRollupQuery(dialect, bothFrom)),
    all(rollupRowsQuery(dialect, bothFrom)),
  ]);
  const k = keylessAuditQueries();
  const [keyless, summed] = await Promise.all([
    all({ sql: k.keyless, params: [] }),
    all({ sql: k.summed, params: [] }),
  ]);
  const d = dayAuditQueries(dialect, bucketsFrom);
  const [days, daySums] = await Promise.all([all(d.day), all(d.summed)]);
  return [
    ...compare("usage_15m", keyDims, rollup, ledger, true),
    ...compare("usage_15m_all", ["bucket", "model", "route", "upstream"], keyless, summed, false),
    ...compare("usage_day", ["tz", "day", ...keyDims.slice(1)], days, daySums, false),
  ];
}
