/**
 * The SQLite checkpoint worker (a Deno Worker started by sqlite_checkpointer.ts). It opens the
 * gateway's database file with its own connection and copies the WAL back into it with
 * `PRAGMA wal_checkpoint(PASSIVE)`, so the request path's connection (`wal_autocheckpoint=0`)
 * never pays for a checkpoint inside a commit. PASSIVE never blocks the writer or readers: what
 * it cannot copy now it copies at a later tick.
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";

/** What the worker is told to do: start on a file, or stop. */
export type CheckpointCommand =
  | { kind: "start"; path: string; intervalMs: number; restartFrames: number }
  | { kind: "stop" };

/** What the worker reports back. */
export type CheckpointReport =
  | { kind: "started" }
  | { kind: "checkpointed"; frames: number; copied: number; restartDue: boolean }
  | { kind: "stopped" }
  | { kind: "failed"; message: string };

// Deno's worker global: typed here so this module needs no "deno.worker" lib.
const port = self as unknown as {
  onmessage: ((e: MessageEvent<CheckpointCommand>) => void) | null;
  postMessage(message: CheckpointReport): void;
  close(): void;
};

let db: DatabaseSync | null = null;
let passive: StatementSync | null = null;
/** WAL frames past which a tick restarts the WAL (see checkpoint()). */
let restartFrames = Infinity;
let timer: ReturnType<typeof setInterval> | undefined;
/** Frames the WAL held at the last tick that checkpointed: a tick with no new frame is skipped. */
let lastFrames = -1;

/**
 * One PASSIVE checkpoint, reported when it moved frames. The WAL only starts over from its
 * beginning when a write transaction begins with every frame already copied; a checkpoint in
 * this thread overlaps the gateway's writes, so under steady load it rarely sees that and the
 * WAL would grow without bound. Past `restartFrames` the report says so, and the gateway's own
 * connection copies the few frames left between two of its transactions (see
 * SqliteCheckpointer.restartDue): its next transaction then starts the WAL over.
 */
function checkpoint(): void {
  if (!passive) return;
  try {
    // all(), not get(): the statement runs to its end, so this connection keeps no read lock.
    const [row] = passive.all() as Array<
      { busy: number; log: number; checkpointed: number }
    >;
    if (!row) return;
    const frames = Number(row.log);
    if (frames !== lastFrames && frames > 0) {
      port.postMessage({
        kind: "checkpointed",
        frames,
        copied: Number(row.checkpointed),
        restartDue: frames >= restartFrames,
      });
    }
    lastFrames = frames;
  } catch (err) {
    // SQLITE_BUSY (another checkpoint running, e.g. another process's) is retried next tick.
    if (!/busy|locked/i.test((err as Error).message)) {
      port.postMessage({ kind: "failed", message: (err as Error).message });
    }
  }
}

port.onmessage = (e) => {
  const cmd = e.data;
  if (cmd.kind === "start") {
    try {
      db = new DatabaseSync(cmd.path);
      db.exec("PRAGMA busy_timeout = 0");
      passive = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
      restartFrames = cmd.restartFrames;
      timer = setInterval(checkpoint, cmd.intervalMs);
      port.postMessage({ kind: "started" });
    } catch (err) {
      port.postMessage({ kind: "failed", message: (err as Error).message });
    }
    return;
  }
  clearInterval(timer);
  // A last checkpoint so a clean shutdown leaves little WAL for the next start.
  checkpoint();
  passive = null;
  db?.close();
  db = null;
  port.postMessage({ kind: "stopped" });
  port.close();
};
