/**
 * SQLite's group commit, seen from the WAL: how many transactions a sequence of store calls
 * commits (one commit frame each). A lone call on a quiet store commits at once, before its
 * promise is awaited; calls that arrive together share one transaction, and so does a burst
 * that starts a while after a group of several, its first call included, and calls made in the
 * turn of a slow transaction that ran at once.
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openSqliteStore } from "../../db/sqlite.ts";
import type { Store } from "../../core/store.ts";
import { ASK, newKey, NOW_MS, start } from "../support/admissions.ts";

/** Commit frames in the WAL at `path` (frames of the current WAL generation only). */
function commits(path: string): number {
  const wal = Deno.readFileSync(`${path}-wal`);
  if (wal.length < 32) return 0;
  const view = new DataView(wal.buffer, wal.byteOffset, wal.byteLength);
  const pageSize = view.getUint32(8);
  const salts = [view.getUint32(16), view.getUint32(20)];
  let n = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    // A frame of an earlier generation (before a restart) has the old salts: the log ends there.
    if (view.getUint32(at + 8) !== salts[0] || view.getUint32(at + 12) !== salts[1]) break;
    if (view.getUint32(at + 4) !== 0) n++;
  }
  return n;
}

async function withWalStore(fn: (store: Store, path: string, keyId: number) => Promise<void>) {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/group.db`;
  // No checkpoint worker, so nothing but the store's own transactions touches the WAL.
  const store = openSqliteStore(`sqlite:///${path}`, { checkpointWorker: false });
  try {
    await store.migrate();
    const key = await store.createKey(newKey());
    await fn(store, path, key.id);
  } finally {
    await store.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

const admit = (store: Store, keyId: number) => store.admit(start(keyId), ASK, NOW_MS);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("[sqlite] a lone store call on a quiet store commits before it is awaited", () =>
  withWalStore(async (store, path, keyId) => {
    await admit(store, keyId);
    await pause(5);
    const before = commits(path);
    const pending = admit(store, keyId);
    // One request at a time waits for no turn of the event loop: committed already.
    assert.equal(commits(path), before + 1);
    assert.equal((await pending).kind, "admitted");
  }));

Deno.test("[sqlite] store calls that arrive together share one transaction", () =>
  withWalStore(async (store, path, keyId) => {
    await admit(store, keyId);
    await pause(5);
    const before = commits(path);
    // The first of these would run at once on a quiet store; the rest join the next group.
    await Promise.all([0, 1, 2, 3].map(() => admit(store, keyId)));
    assert.equal(commits(path), before + 2);
    // After that group of three, a burst that starts later is one transaction, its first call
    // included: the loop was busy, so the burst's first call does not run alone.
    await pause(5);
    const after = commits(path);
    const burst = await Promise.all([0, 1, 2].map(() => admit(store, keyId)));
    assert.deepEqual(burst.map((a) => a.kind), ["admitted", "admitted", "admitted"]);
    assert.equal(commits(path), after + 1);
  }));

Deno.test("[sqlite] calls made in the turn of a slow lone transaction share the next one", () =>
  withWalStore(async (store, path, keyId) => {
    // 801 requests in flight for the reaper to release: its transaction takes many ms.
    for (let i = 0; i < 8; i++) {
      await Promise.all(Array.from({ length: 100 }, () => admit(store, keyId)));
    }
    // One call alone (it waits for the turn, after those groups): the store is quiet again.
    await admit(store, keyId);
    // The WAL starts over, so the frames counted below are all of this generation.
    const side = new DatabaseSync(path);
    side.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    side.close();
    await pause(5);
    const before = commits(path);
    const started = performance.now();
    const released = store.releaseStale({
      startedBefore: "9999-01-01T00:00:00.000Z",
      silentSince: "2000-01-01T00:00:00.000Z",
      minutesBefore: "2000-01-01T00:00:00.000Z",
    });
    const took = performance.now() - started;
    // Quiet: it ran at once, alone; the three calls after it, in the same turn, wait for the next.
    assert.equal(commits(path), before + 1);
    const after = await Promise.all([0, 1, 2].map(() => admit(store, keyId)));
    assert.equal(await released, 801);
    assert.deepEqual(after.map((a) => a.kind), ["admitted", "admitted", "admitted"]);
    assert.equal(commits(path), before + 2, `the reaper's transaction took ${took.toFixed(1)} ms`);
  }));
