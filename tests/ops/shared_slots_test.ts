/**
 * The in-flight ledger PostgreSQL gateways share (ops/shared_slots.ts), two instances on one
 * database: each take is decided in the database, each instance sees the other's slots after a
 * poll and is told when one comes free, and a box without a limit costs no round trip.
 * @module
 */
import assert from "node:assert/strict";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { openPostgresStore } from "../../db/postgres.ts";
import { SharedSlots } from "../../ops/shared_slots.ts";
import type { Store } from "../../core/store.ts";

if (testDialects().includes("postgres")) {
  Deno.test("[postgres] two shared ledgers: one limit, each other's counts, a wake-up on release", async () => {
    const db = await createTestDatabase("postgres");
    const stores: Store[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        stores.push(await openPostgresStore(db.url, { poolSize: 2, connectTimeoutSeconds: 5 }));
      }
      await stores[0].migrate();
      const row = await stores[0].createUpstream({
        name: "gpu1",
        url: "http://gpu1:11434",
        token_sealed: null,
        enabled: true,
        max_in_flight: 1,
        created_at: "2026-06-15T10:00:00.000Z",
        updated_at: "2026-06-15T10:00:00.000Z",
      });
      const box = String(row.id);
      const errors: unknown[] = [];
      const [a, b] = stores.map((s, i) => new SharedSlots(s, `gw-${i}`, (e) => errors.push(e)));
      let woken = 0;
      b.onChange = () => woken++;

      assert.equal(await a.take(box, 1), true);
      assert.equal(a.inFlight(box), 1);
      assert.equal(await b.take(box, 1), false, "the database says the box is full");
      assert.equal(b.inFlight(box), 0, "a refused take is not counted");
      await b.poll();
      assert.equal(b.inFlight(box), 1, "b sees a's request after a poll");

      a.give(box);
      assert.equal(a.inFlight(box), 0);
      await a.stop(); // waits for the release to reach the database
      await b.poll();
      assert.equal(b.inFlight(box), 0);
      assert.ok(woken > 0, "b is told a slot came free");
      assert.equal(await b.take(box, 1), true);

      // No limit: granted without a lease row (nothing to decide together).
      assert.equal(await a.take(box, null), true);
      assert.deepEqual(await stores[0].upstreamLeaseCounts!(), new Map([[row.id, 1]]));
      await a.poll();
      assert.equal(a.inFlight(box), 2, "its own unlimited slot and b's lease");
      a.give(box);
      b.give(box);
      await Promise.all([a.stop(), b.stop()]);
      assert.deepEqual(await stores[0].upstreamLeaseCounts!(), new Map());
      assert.throws(() => a.give(box), /no slot/, "a slot given back twice is refused");
      assert.deepEqual(errors, []);
    } finally {
      for (const s of stores) await s.close();
      await db.drop();
    }
  });

  Deno.test("[postgres] stopping a shared ledger gives back its instance's leases, no other's", async () => {
    const db = await createTestDatabase("postgres");
    const store = await openPostgresStore(db.url, { poolSize: 2, connectTimeoutSeconds: 5 });
    try {
      await store.migrate();
      const row = await store.createUpstream({
        name: "gpu1",
        url: "http://gpu1:11434",
        token_sealed: null,
        enabled: true,
        max_in_flight: 4,
        created_at: "2026-06-15T10:00:00.000Z",
        updated_at: "2026-06-15T10:00:00.000Z",
      });
      const box = String(row.id);
      const errors: unknown[] = [];
      const [a, b] = ["gw-a", "gw-b"].map((id) =>
        new SharedSlots(store, id, (e) => errors.push(e))
      );
      assert.equal(await a.take(box, 4), true);
      assert.equal(await a.take(box, 4), true);
      assert.equal(await b.take(box, 4), true);
      // a stops with its leases never given back (its requests were cut): they go all the same.
      await a.stop();
      assert.deepEqual(await store.upstreamLeaseCounts!(), new Map([[row.id, 1]]), "b's stays");
      b.give(box);
      await b.stop();
      assert.deepEqual(await store.upstreamLeaseCounts!(), new Map());
      assert.deepEqual(errors, []);
    } finally {
      await store.close();
      await db.drop();
    }
  });
}
