/**
 * Fresh databases for tests, one per gateway under test, for each dialect the suite covers.
 *
 * PostgreSQL is found through TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test), an
 * admin connection used to create and drop one uniquely named database per test.
 * @module
 */
import postgres from "postgres";

/** A dialect the suite runs against. */
export type Dialect = "sqlite" | "postgres";

/** A database made for one test, removed by `drop`. */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

const DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test";
/** Caches the reachability verdict for the whole process (test files may run in workers). */
const VERDICT_ENV = "LLMQ_TEST_PG_REACHABLE";

/** The admin URL of the PostgreSQL server the tests use. */
export function testPostgresUrl(): string {
  return Deno.env.get("TEST_PG_URL") || DEFAULT_PG_URL;
}

/** `host:port/db` of a URL, without credentials. */
function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || "5432"}${u.pathname}`;
  } catch {
    return "(unparseable TEST_PG_URL)";
  }
}

/**
 * Asks, synchronously, whether a PostgreSQL server answers at the URL's host and port: a child
 * Deno (always present: it is the running executable) connects and sends an SSLRequest; a
 * PostgreSQL server answers with one byte, 'S' or 'N'. Needs --allow-run.
 */
function probePostgres(url: string): { ok: true } | { ok: false; reason: string } {
  let host: string, port: number;
  try {
    const u = new URL(url);
    host = u.hostname || "localhost";
    port = Number(u.port || 5432);
  } catch {
    return { ok: false, reason: "TEST_PG_URL is not a URL" };
  }
  const code = `
    const timer = setTimeout(() => { console.log("timeout after 3s"); Deno.exit(2); }, 3000);
    try {
      const conn = await Deno.connect({ hostname: Deno.args[0], port: Number(Deno.args[1]) });
      await conn.write(new Uint8Array([0, 0, 0, 8, 4, 210, 22, 47]));
      const buf = new Uint8Array(1);
      const n = await conn.read(buf);
      conn.close();
      clearTimeout(timer);
      const ok = n === 1 && (buf[0] === 83 || buf[0] === 78);
      if (!ok) console.log(n === null ? "connection closed without an answer" : "not a PostgreSQL server");
      Deno.exit(ok ? 0 : 1);
    } catch (e) {
      console.log(e instanceof Error ? e.message : String(e));
      Deno.exit(1);
    }`;
  try {
    const out = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", code, host, String(port)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (out.success) return { ok: true };
    const text = new TextDecoder().decode(out.stdout).trim() ||
      new TextDecoder().decode(out.stderr).trim();
    return { ok: false, reason: text.split("\n")[0] || `probe exited with ${out.code}` };
  } catch (err) {
    return { ok: false, reason: `cannot run the probe: ${(err as Error).message}` };
  }
}

let verdict: boolean | undefined;

function postgresReachable(): boolean {
  if (verdict !== undefined) return verdict;
  const cached = Deno.env.get(VERDICT_ENV);
  if (cached === "1" || cached === "0") return verdict = cached === "1";
  const url = testPostgresUrl();
  const probe = probePostgres(url);
  verdict = probe.ok;
  Deno.env.set(VERDICT_ENV, verdict ? "1" : "0");
  if (!probe.ok) {
    if (Deno.env.get("CI") === "true") {
      console.error(
        `PostgreSQL not reachable at ${
          describe(url)
        } (${probe.reason}); CI=true, so its tests run and fail.`,
      );
    } else {
      console.warn(
        `PostgreSQL not reachable at ${
          describe(url)
        } (${probe.reason}); running SQLite tests only (set TEST_PG_URL, or CI=true to require it).`,
      );
    }
  }
  return verdict;
}

/**
 * The dialects to run: SQLite always; PostgreSQL when a server answers at TEST_PG_URL, and always
 * when CI=true (an unreachable server then fails the tests instead of skipping them).
 */
export function testDialects(): Dialect[] {
  const reachable = postgresReachable();
  return reachable || Deno.env.get("CI") === "true" ? ["sqlite", "postgres"] : ["sqlite"];
}

async function withAdmin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const admin = postgres(testPostgresUrl(), {
    max: 1,
    connect_timeout: 5,
    idle_timeout: 1,
    onnotice: () => {},
  });
  try {
    return await fn(admin);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Creates an empty database of a dialect and returns its DATABASE_URL. */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  if (dialect === "sqlite") {
    const dir = await Deno.makeTempDir({ prefix: "llm-quota-test-" });
    return {
      url: `sqlite:///${dir}/test.db`,
      drop: () => Deno.remove(dir, { recursive: true }),
    };
  }
  if (dialect !== "postgres") {
    throw new Error(`Cannot create test database: ${dialect} not supported`);
  }
  // Generated here from hex digits only, so it is safe as an identifier.
  const name = `llmq_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  try {
    await withAdmin((sql) => sql.unsafe(`CREATE DATABASE ${name}`));
  } catch (err) {
    throw new Error(
      `Cannot create a PostgreSQL test database at ${describe(testPostgresUrl())} (TEST_PG_URL): ${
        (err as Error).message
      }`,
    );
  }
  const url = new URL(testPostgresUrl());
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    drop: async () => {
      if (dropped) return;
      await withAdmin(async (sql) => {
        await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                   WHERE datname = ${name} AND pid <> pg_backend_pid()`;
        await sql.unsafe(`DROP DATABASE IF EXISTS ${name}`);
      });
      dropped = true;
    },
  };
}
