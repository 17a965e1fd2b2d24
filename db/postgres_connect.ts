/**
 * Connecting to PostgreSQL (npm `postgres`): the pool, start-up retries while the server comes
 * up, which errors leave a reserved connection usable, and the two ways postgres.js 3.4.9 fails
 * when connections are lost (a dropped promise, a reserve never answered) worked around.
 * @module
 */
import postgres from "postgres";

/** Options for opening a PostgreSQL store. */
export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Server-side statement timeout in milliseconds, lock waits included (default 5000). */
  statementTimeoutMs?: number;
  /** How long start-up keeps retrying an unreachable database, in seconds (default 30). */
  connectTimeoutSeconds?: number;
}

/** The statement postgres.js 3.4.9 runs first on each new connection to read the array types. */
const TYPE_FETCH =
  /from pg_catalog\.pg_type a\s+left join pg_catalog\.pg_type b on b\.oid = a\.typelem/;

/**
 * postgres.js 3.4.9 reads the array types in an async function whose promise it drops
 * (connection.js fetchArrayTypes, porsager/postgres#1192): a connection lost during that read,
 * as when the database goes away while the pool opens a connection, rejects it nowhere, and the
 * unhandled rejection ends the process. Nothing waits on that read, so dropping it is safe: the
 * query that opened the connection fails or succeeds on its own, the type maps are shared by the
 * pool, and the next connection reads them again. `fetch_types: false` would avoid the read but
 * deadlocks `reserve()` on a new connection (porsager/postgres#751), which admissions use.
 * Registered on import, before any connection, so later listeners see it handled; every other
 * unhandled rejection is left alone.
 */
globalThis.addEventListener("unhandledrejection", (e) => {
  const query = (e.reason as { query?: unknown } | null)?.query;
  if (typeof query !== "string" || !TYPE_FETCH.test(query)) return;
  e.preventDefault();
  const reason = e.reason instanceof Error ? e.reason.message : String(e.reason);
  console.warn(`A new PostgreSQL connection was lost while it started (${reason}); retried`);
});

/** Custom types: BIGINT (int8) columns come back as numbers; counters never near 2^53. */
const types = {
  bigint: {
    to: 20,
    from: [20],
    serialize: (x: number) => String(x),
    parse: (x: string) => Number(x),
  },
};

/** Column types as they come back. */
export type Types = { bigint: number };
/** A connection pool with those types. */
export type Sql = postgres.Sql<Types>;

/** `user@host:port/db` of a connection URL; never includes the password. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : "";
    const host = u.hostname || "localhost";
    const db = decodeURIComponent(u.pathname.replace(/^\//, "")) || "(default db)";
    return `${user}${host}:${u.port || "5432"}/${db}`;
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return "";
  }
}

/** Server errors that mean "not up yet"; any other server error (auth, no such db) is final. */
const TRANSIENT_SQLSTATES = new Set(["57P03", "53300"]);

function isTransient(err: unknown): boolean {
  if (err instanceof postgres.PostgresError) return TRANSIENT_SQLSTATES.has(err.code);
  // Network-level failures (ECONNREFUSED, ENOTFOUND, CONNECT_TIMEOUT, CONNECTION_CLOSED…).
  return true;
}

/**
 * Whether a reserved connection may still be used after a query on it failed: after a server
 * ERROR (it ends the statement, not the session) and after postgres.js refused a query before
 * sending it (UNDEFINED_VALUE…). Not after FATAL, socket or CONNECTION_* errors, nor when unsure:
 * writing to or releasing a reserved connection whose socket closed crashes the process in
 * postgres.js 3.4.9 (porsager/postgres#1208), while a live one left reserved costs a pool slot.
 */
export function connectionUsable(err: unknown): boolean {
  if (err instanceof postgres.PostgresError) return err.severity === "ERROR";
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Z]+(_[A-Z]+)+$/.test(code) &&
    !code.startsWith("CONNECT");
}

/** How long a caller waits for a connection of its own (see reserveConnection). */
export const RESERVE_TIMEOUT_MS = 10_000;

/**
 * `sql.reserve()`, rejecting after `timeoutMs`. postgres.js 3.4.9 loses a reserve that waited
 * while a pool connection closed and reconnected (it becomes that reconnect's first "query",
 * which the reconnect drops: porsager/postgres#1195): it is never answered, and the admission
 * batch awaiting it, with every admission queued behind it, would wait for ever after an outage.
 */
export async function reserveConnection(
  sql: Sql,
  timeoutMs = RESERVE_TIMEOUT_MS,
): Promise<postgres.ReservedSql<Types>> {
  const reserving = sql.reserve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no PostgreSQL connection within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([reserving, timeout]);
  } catch (err) {
    // One given after the timeout goes back to the pool at once; a failed one has nothing to
    // give back (handled here so it is not an unhandled rejection).
    reserving.then((tx) => tx.release(), () => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function reasonOf(err: unknown, password: string): string {
  const raw = err instanceof Error
    ? (err.message || (err as { code?: string }).code || err.name)
    : String(err);
  return password ? raw.split(password).join("***") : raw;
}

/**
 * Opens a pooled connection to PostgreSQL, waiting (bounded by `connectTimeoutSeconds`) for the
 * server to come up. Throws `Cannot connect to PostgreSQL at …` when it does not.
 */
export async function connectPostgres(url: string, options: PostgresOptions = {}): Promise<Sql> {
  const totalSeconds = options.connectTimeoutSeconds ?? 30;
  const sql: Sql = postgres(url, {
    max: options.poolSize ?? 10,
    idle_timeout: 30,
    connect_timeout: Math.max(1, Math.min(5, totalSeconds)),
    onnotice: () => {},
    types,
    connection: {
      application_name: "llm-quota",
      statement_timeout: options.statementTimeoutMs ?? 5000,
      // JIT compiling a short aggregate (a chart's SUMs over a few thousand rollup rows) costs
      // more than running it: PostgreSQL's cost estimates for the JSON range lists trip it.
      jit: "off",
    },
  });
  const target = describePostgresUrl(url);
  const password = passwordOf(url);
  const deadline = Date.now() + totalSeconds * 1000;
  let delay = 1;
  for (;;) {
    try {
      await sql`SELECT 1`;
      return sql;
    } catch (err) {
      const reason = reasonOf(err, password);
      const left = (deadline - Date.now()) / 1000;
      if (!isTransient(err) || left <= 0) {
        await sql.end({ timeout: 0 });
        throw new Error(`Cannot connect to PostgreSQL at ${target}: ${reason}`);
      }
      const wait = Math.max(0.1, Math.round(Math.min(delay, left) * 10) / 10);
      console.warn(
        `Database not reachable (${target}, no password shown: ${reason}); retrying in ${wait}s`,
      );
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      delay = Math.min(delay * 2, 5);
    }
  }
}
