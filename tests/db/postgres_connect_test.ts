/**
 * The session settings of the gateway's PostgreSQL connections, and waiting for one of its own.
 * @module
 */
import assert from "node:assert/strict";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import type postgres from "postgres";
import {
  connectPostgres,
  reserveConnection,
  type Sql,
  type Types,
} from "../../db/postgres_connect.ts";
import { startTcpForwarder } from "../support/tcp_forwarder.ts";

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

  Deno.test("[postgres] a reserve that waited through a reconnect is given up, not waited on for ever", async () => {
    const db = await createTestDatabase("postgres");
    const target = new URL(db.url);
    const forwarder = startTcpForwarder({
      hostname: target.hostname,
      port: Number(target.port || 5432),
    });
    const viaForwarder = new URL(db.url);
    viaForwarder.port = String(forwarder.port);
    const sql = await connectPostgres(viaForwarder.toString(), {
      poolSize: 1,
      connectTimeoutSeconds: 5,
    });
    try {
      // The one connection is busy, so the reserve waits in the pool's queue; the connection
      // is lost and reconnects with the reserve as its first "query", which postgres.js 3.4.9
      // drops (porsager/postgres#1195): sql.reserve() alone would never answer.
      const busy = sql`SELECT pg_sleep(0.3)`.catch((err: Error) => err);
      await new Promise((r) => setTimeout(r, 50));
      const reserving = reserveConnection(sql, 1000).then(
        (tx) => (tx.release(), "reserved"),
        (err: Error) => err.message,
      );
      await new Promise((r) => setTimeout(r, 50));
      forwarder.drop();
      assert.ok((await busy) instanceof Error, "the query on the lost connection failed");
      const outcome = await Promise.race([
        reserving,
        new Promise((r) => setTimeout(() => r("still waiting"), 5000)),
      ]);
      assert.equal(outcome, "no PostgreSQL connection within 1000 ms");
      const [{ one }] = await sql`SELECT 1 AS one`;
      assert.equal(one, 1, "the pool works on");
    } finally {
      await sql.end({ timeout: 1 });
      forwarder.close();
      await db.drop();
    }
  });
}

Deno.test("reserveConnection gives back a connection that comes after it gave up", async () => {
  const late = Promise.withResolvers<postgres.ReservedSql<Types>>();
  const sql = { reserve: () => late.promise } as unknown as Sql;
  await assert.rejects(reserveConnection(sql, 20), /no PostgreSQL connection within 20 ms/);
  let released = 0;
  late.resolve({ release: () => released++ } as unknown as postgres.ReservedSql<Types>);
  await late.promise;
  await Promise.resolve();
  assert.equal(released, 1);
});
