/**
 * Migration 8's SQL (one spelling per model), frozen once applied: admission now records the
 * canonical spelling of core/model_names.ts canonicalModel (`llama3` → `llama3:latest`), and
 * this rewrites the spellings recorded before it, in the ledger and in every rollup table,
 * summing the rollup rows that become one. Written out per dialect from the counter columns as
 * they are at version 8 (a literal list, never the live rollup columns), so a later column
 * cannot change it.
 *
 * The canonical spelling is canonicalModel's, in SQL: trimmed, lower case (as the database's
 * lower() folds: SQLite folds ASCII only), the digest (`@…`) cut, the default
 * `registry.ollama.ai/library/` or `library/` prefix removed, `:latest` added when the last path
 * segment has no tag. OTHER_MODEL, the refused-model cap's `(other)`, is not a client's
 * spelling and stays as it is.
 * @module
 */

/** The counter columns of every rollup table at version 8 (migrations 3, 5 and 7). */
const COUNTERS = [
  "requests",
  "ok",
  "refused",
  "refused_requests",
  "refused_tokens",
  "refused_concurrent",
  "refused_other",
  "client_errors",
  "upstream_errors",
  "disconnected",
  "abandoned",
  "charged",
  "prompt_tokens",
  "completion_tokens",
  "estimated",
  "duration_ms",
  "duration_count",
  "ttfb_ms",
  "ttfb_count",
  "load_ms",
  "prompt_eval_ms",
  "eval_ms",
  "timing_count",
  "cold_loads",
  ...Array.from({ length: 15 }, (_, i) => `dh${i}`),
  ...Array.from({ length: 15 }, (_, i) => `th${i}`),
  "refused_logged",
  "refusals_unlogged",
  "refused_model",
];

/** Each rollup table with its primary key's columns other than `model`. */
const ROLLUPS: ReadonlyArray<{ table: string; dims: string[] }> = [
  {
    table: "usage_15m",
    dims: ["bucket", "key_id", "route", "group_id", "member_id", "upstream"],
  },
  { table: "usage_15m_all", dims: ["bucket", "route", "upstream"] },
  {
    table: "usage_day",
    dims: ["tz", "day", "key_id", "route", "group_id", "member_id", "upstream"],
  },
  { table: "usage_day_all", dims: ["tz", "day", "route", "upstream"] },
];

/** The dialect's spelling of each step of canonicalModel, over a column `n`. */
interface Steps {
  /** Trimmed of ASCII white space and lower-cased. */
  folded: string;
  /** Cut at the first `@`. */
  undigested: string;
  /** Whether the last `/`-segment holds a `:` (a tag). */
  tagged: string;
}

const SQLITE_STEPS: Steps = {
  folded: "lower(trim(n, ' ' || char(9, 10, 11, 12, 13)))",
  undigested: "CASE WHEN instr(n, '@') > 0 THEN substr(n, 1, instr(n, '@') - 1) ELSE n END",
  // rtrim(n, every character but '/') keeps n up to its last '/': the segment is what follows.
  tagged: "instr(substr(n, length(rtrim(n, replace(n, '/', ''))) + 1), ':') > 0",
};

const POSTGRES_STEPS: Steps = {
  folded: "lower(btrim(n, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)))",
  undigested: "CASE WHEN strpos(n, '@') > 0 THEN substr(n, 1, strpos(n, '@') - 1) ELSE n END",
  tagged: "strpos(regexp_replace(n, '^.*/', ''), ':') > 0",
};

/** Rows of one rollup table under a renamed spelling, summed per canonical key, then put back. */
function mergeRollup(table: string, dims: string[]): string {
  const key = [...dims, "model"];
  const select = dims.map((d) => `u.${d}`).join(", ");
  const sums = COUNTERS.map((c) => `SUM(u.${c}) AS ${c}`).join(", ");
  const columns = [...key, ...COUNTERS].join(", ");
  const add = COUNTERS.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(", ");
  return `
CREATE TEMP TABLE merged_${table} AS
  SELECT ${select}, r.canonical AS model, ${sums}
    FROM ${table} AS u JOIN model_renames AS r ON u.model = r.spelling
   GROUP BY ${select}, r.canonical;
DELETE FROM ${table} WHERE model IN (SELECT spelling FROM model_renames);
INSERT INTO ${table} (${columns})
SELECT ${columns} FROM merged_${table} WHERE TRUE
    ON CONFLICT (${key.join(", ")}) DO UPDATE SET ${add};
DROP TABLE merged_${table};`;
}

/** The statements of migration 8 in a dialect. */
function v8(steps: Steps): string {
  const spellings = ["request_log", ...ROLLUPS.map((r) => r.table)]
    .map((t) => `SELECT model AS n FROM ${t}`).join(" UNION ");
  return `
-- Every recorded spelling whose canonical one differs. Moved all at once (into a table of sums,
-- deleted, put back), so a canonical spelling that is itself renamed loses and doubles nothing.
CREATE TEMP TABLE model_renames AS
WITH spellings AS (SELECT n AS spelling, n FROM (${spellings}) AS s),
folded AS (SELECT spelling, ${steps.folded} AS n FROM spellings),
undigested AS (SELECT spelling, ${steps.undigested} AS n FROM folded),
unprefixed AS (
  SELECT spelling, CASE WHEN substr(n, 1, 27) = 'registry.ollama.ai/library/' THEN substr(n, 28)
                        WHEN substr(n, 1, 8) = 'library/' THEN substr(n, 9)
                        ELSE n END AS n
    FROM undigested),
canonical AS (
  SELECT spelling, CASE WHEN ${steps.tagged} THEN n ELSE n || ':latest' END AS canonical
    FROM unprefixed)
SELECT spelling, canonical FROM canonical WHERE canonical <> spelling AND spelling <> '(other)';
UPDATE request_log SET model = r.canonical FROM model_renames AS r
 WHERE request_log.model = r.spelling;
${ROLLUPS.map((r) => mergeRollup(r.table, r.dims)).join("\n")}
DROP TABLE model_renames;
`;
}

/** PostgreSQL migration 8. */
export const POSTGRES_V8 = v8(POSTGRES_STEPS);

/** SQLite migration 8. */
export const SQLITE_V8 = v8(SQLITE_STEPS);
