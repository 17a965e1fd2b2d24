/**
 * One query straight on a test database, outside the gateway's store (`?` placeholders on
 * both dialects).
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { sqlitePath } from "../../db/sqlite.ts";
import type { Dialect } from "./databases.ts";

/** Runs `sql` with `params` and returns its rows. */
export async function rawQuery(
  dialect: Dialect,
  url: string,
  sql: string,
  params: Array<string | number> = [],
): Promise<Array<Record<string, unknown>>> {
  if (dialect === "sqlite") {
    const db = new DatabaseSync(sqlitePath(url));
    try {
      return db.prepare(sql).all(...params) as Array<Record<string, unknown>>;
    } finally {
      db.close();
    }
  }
  const pg = postgres(url, { max: 1, onnotice: () => {} });
  try {
    let n = 0;
    return await pg.unsafe(sql.replace(/\?/g, () => `$${++n}`), params);
  } finally {
    await pg.end({ timeout: 5 });
  }
}

/** Runs a script of statements (no parameters, no rows back): a schema change behind the store's back. */
export async function rawScript(dialect: Dialect, url: string, script: string): Promise<void> {
  if (dialect === "sqlite") {
    const db = new DatabaseSync(sqlitePath(url));
    try {
      db.exec(script);
    } finally {
      db.close();
    }
    return;
  }
  const pg = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await pg.unsafe(script);
  } finally {
    await pg.end({ timeout: 5 });
  }
}
