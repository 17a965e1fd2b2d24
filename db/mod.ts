/**
 * Opens the store that DATABASE_URL names.
 * @module
 */
import type { Store } from "../core/store.ts";
import { openSqliteStore } from "./sqlite.ts";

/** Options for opening a store. */
export interface OpenOptions {
  poolSize?: number;
  statementTimeoutMs?: number;
  /** How long start-up waits for an unreachable PostgreSQL before giving up (seconds). */
  connectTimeoutSeconds?: number;
}

/** Whether a DATABASE_URL selects PostgreSQL. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/** Opens and migrates the store for a DATABASE_URL (sqlite:/// or postgres://). */
export async function openStore(url: string, options: OpenOptions = {}): Promise<Store> {
  let store: Store;
  if (isPostgresUrl(url)) {
    const { openPostgresStore } = await import("./postgres.ts");
    store = await openPostgresStore(url, options);
  } else {
    store = openSqliteStore(url);
  }
  await store.migrate();
  return store;
}
