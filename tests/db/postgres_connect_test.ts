/**
 * The session settings of the gateway's PostgreSQL connections.
 * @module
 */
import assert from "node:assert/strict";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { connectPostgres } from "../../db/postgres_connect.ts";

if (testDialects().includes("postgres")) {
  Deno.test("[postgres] the gateway's connections run without JIT, with a statement timeout", async () => {
    const db = await createTestDatabase("postgres");
    const sql = await connectPostgres(db.url, { poolSize: 1, connectTimeoutSeconds: 5 });
    try {
      // JIT compiling a chart's SUMs costs more than running them (bench/README.md).
      const [{ jit }] = await sql`SHOW jit`;
      assert.equal(jit, "off");
      const [{ statement_timeout }] = await sql`SHOW statement_timeout`;
      assert.equal(statement_timeout, "5s");
    } finally {
      await sql.end({ timeout: 5 });
      await db.drop();
    }
  });
}
