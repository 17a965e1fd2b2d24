/**
 * The SQLite checkpoint worker (db/sqlite_checkpointer.ts): with autocheckpoint off on the
 * gateway's connection, the WAL still stays bounded under steady writes, and closing the store
 * leaves no worker thread behind.
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openSqliteStore } from "../../db/sqlite.ts";
import { SqliteCheckpointer } from "../../db/sqlite_checkpointer.ts";
import type { Store } from "../../core/store.ts";
import { ASK, newKey, NOW_MS, start } from "../support/admissions.ts";

/**
 * Thread ids of this process's Deno Workers (Deno names them `worker-<n>`). Ids, not a count:
 * in a full test run another file's worker may still be exiting while these tests look. Read
 * by a child shell: Deno grants /proc/self only under --allow-all, and the suite runs with
 * named permissions (--allow-run among them).
 */
async function workerThreads(): Promise<Set<string>> {
  const script = `for t in /proc/${Deno.pid}/task/*; do
    printf '%s %s\\n' "\${t##*/}" "$(cat "$t/comm" 2>/dev/null)"; done`;
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  const ids = new Set<string>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [id, comm] = line.split(" ");
    if (comm?.startsWith("worker-")) ids.add(id);
  }
  return ids;
}

/** Worker threads now running that were not in `before`. */
async function newWorkers(before: Set<string>): Promise<string[]> {
  return [...await workerThreads()].filter((id) => !before.has(id));
}

async function admitAndSettle(store: Store, keyId: number): Promise<void> {
  const a = await store.admit(start(keyId), ASK, NOW_MS);
  assert.equal(a.kind, "admitted");
  if (a.kind !== "admitted") return;
  await store.settle({
    requestId: a.requestId,
    charge: { charged: true, promptTokens: 10, completionTokens: 5, estimated: false, status: 200 },
    durationMs: 1,
  });
}

Deno.test("[sqlite] the WAL stays bounded under steady writes with autocheckpoint off", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/wal.db`;
  // A short interval and a 256-frame (1 MiB) restart point keep the test small; without the
  // worker's checkpoints these writes leave a WAL of about 100 MB.
  const store = openSqliteStore(`sqlite:///${path}`, {
    checkpointIntervalMs: 10,
    checkpointRestartFrames: 256,
  });
  try {
    await store.migrate();
    const key = await store.createKey(newKey());
    let largest = 0;
    for (let i = 0; i < 1500; i++) {
      await admitAndSettle(store, key.id);
      if (i % 50 === 0) largest = Math.max(largest, Deno.statSync(`${path}-wal`).size);
    }
    largest = Math.max(largest, Deno.statSync(`${path}-wal`).size);
    assert.ok(largest < 32 * 1024 * 1024, `the WAL reached ${largest} bytes`);
    // And nothing is lost: every pair is on the ledger and in the counters.
    const usage = (await store.usageByOwner("key", start(key.id).windows)).get(key.id);
    assert.equal(usage?.today.requests, 1500);
  } finally {
    await store.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("[sqlite] the WAL stays bounded even when the worker never reports", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/starved.db`;
  // The worker's first tick is far away: as if it got no CPU. The connection catches up alone
  // (after 500 transactions and, here, 20 ms without a report; the restart point as shipped).
  const store = openSqliteStore(`sqlite:///${path}`, {
    checkpointIntervalMs: 3_600_000,
    checkpointSilentAfterMs: 20,
  });
  try {
    await store.migrate();
    const key = await store.createKey(newKey());
    for (let i = 0; i < 1500; i++) await admitAndSettle(store, key.id);
    // The file keeps its largest size: ~12 MiB for 500 transactions; 3,000 would be ~70.
    const size = Deno.statSync(`${path}-wal`).size;
    assert.ok(size < 20 * 1024 * 1024, `the WAL reached ${size} bytes`);
  } finally {
    await store.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("[sqlite] one interval's commits at one connection leave the copying to the worker", async () => {
  const dir = Deno.makeTempDirSync();
  const db = new DatabaseSync(`${dir}/interval.db`);
  db.exec("PRAGMA journal_mode = WAL");
  const checkpointer = SqliteCheckpointer.start(db, `${dir}/interval.db`);
  try {
    // One connection commits ~2,800 transactions a second: 560 in one 200 ms interval, all
    // before the worker's next report (here: 700 at once, after more than two intervals in
    // which there was nothing to report). None of them may hand its copying to the event loop.
    await new Promise((r) => setTimeout(r, 450));
    const due = Array.from({ length: 700 }, () => checkpointer.committed()).filter(Boolean);
    assert.equal(due.length, 0);
    assert.equal(checkpointer.restartDue, false);
  } finally {
    await checkpointer.stop();
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("[sqlite] closing the store stops its checkpoint worker", async () => {
  const dir = Deno.makeTempDirSync();
  const before = await workerThreads();
  const store = openSqliteStore(`sqlite:///${dir}/stop.db`);
  await store.migrate();
  // The worker thread starts asynchronously: wait until it is there.
  for (let i = 0; i < 500 && (await newWorkers(before)).length === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const started = await newWorkers(before);
  assert.equal(started.length, 1, "the worker runs while the store is open");
  await store.close();
  const alive = async () => (await workerThreads()).has(started[0]);
  for (let i = 0; i < 500 && await alive(); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(await alive(), false, "no worker thread is left after close()");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("[sqlite] an in-memory store starts no checkpoint worker", async () => {
  const before = await workerThreads();
  const store = openSqliteStore("sqlite:///:memory:");
  await store.migrate();
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await newWorkers(before), []);
  await store.close();
});
