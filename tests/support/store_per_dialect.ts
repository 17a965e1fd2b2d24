/**
 * A fresh, migrated store per test and dialect (SQLite always, PostgreSQL when reachable or
 * CI=true), dropped afterwards: what the store's contract tests run on.
 * @module
 */
import { openPostgresStore } from "../../db/postgres.ts";
import { openSqliteStore } from "../../db/sqlite.ts";
import type { Store } from "../../core/store.ts";
import { createTestDatabase, type Dialect, testDialects } from "./databases.ts";

/** Runs `fn` on a new migrated store of `dialect` with its database URL, then drops it. */
export async function withStore(
  dialect: Dialect,
  fn: (store: Store, url: string) => Promise<void>,
  poolSize = 5,
): Promise<void> {
  const db = await createTestDatabase(dialect);
  const store = dialect === "sqlite"
    ? openSqliteStore(db.url)
    : await openPostgresStore(db.url, { poolSize, connectTimeoutSeconds: 5 });
  try {
    await store.migrate();
    await fn(store, db.url);
  } finally {
    await store.close();
    await db.drop();
  }
}

/** Registers `name` once per test dialect, `[dialect]`-prefixed, each on its own store. */
export function eachDialect(
  name: string,
  fn: (store: Store, url: string, dialect: Dialect) => Promise<void>,
): void {
  for (const dialect of testDialects()) {
    Deno.test(`[${dialect}] ${name}`, () => withStore(dialect, (s, url) => fn(s, url, dialect)));
  }
}
