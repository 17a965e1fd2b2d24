/**
 * Runs SQLite's WAL checkpoints off the request path. With `wal_autocheckpoint` on, the commit
 * that pushes the WAL past 1,000 pages copies it back into the database file (and fsyncs it) on
 * the event loop: a multi-millisecond stall every ~55 admit + settle pairs (~18 pages each), which
 * is what p99 showed.
 * The gateway's connection turns it off and this worker (its own thread and connection) runs
 * PASSIVE checkpoints instead; if the worker fails, the connection turns autocheckpoint back on
 * so the WAL never grows without bound.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { CheckpointCommand, CheckpointReport } from "./sqlite_checkpoint_worker.ts";

/**
 * How often the worker checkpoints (ms). A checkpoint's cost is mostly fixed (the WAL's sync,
 * the database file's sync, its index read), not per page: every 25 ms it took 11–21 µs of CPU
 * per request (bench/threads.ts, c64 and c1), every 200 ms 3–5 µs. The interval is also how
 * long a commit waits for its WAL to be synced: with `synchronous = NORMAL` a power loss (not a
 * crash of the process) can undo the commits of the last interval.
 */
const DEFAULT_INTERVAL_MS = 200;
/** WAL frames (pages) past which the WAL is started over (catchUp): about 16 MiB. */
const DEFAULT_RESTART_FRAMES = 4096;
/** How long stop() waits for the worker's last checkpoint before terminating it. */
const STOP_TIMEOUT_MS = 2_000;

/** A running checkpoint worker for one database file. */
export class SqliteCheckpointer {
  #worker: Worker;
  #db: DatabaseSync;
  #stopped: Promise<void> | null = null;
  #onStopped: (() => void) | null = null;
  /** The worker died (an uncaught error): there is nothing left to stop. */
  #dead = false;
  /** Checkpoints that moved frames (tests read it). */
  checkpoints = 0;
  /** The WAL is long: the connection should catch up between two transactions (catchUp). */
  restartDue = false;
  #commitsSinceReport = 0;
  /**
   * Transactions after which, with no report from the worker (starved of CPU, or stuck), the
   * connection catches up on its own: half the restart point, as a transaction writes one frame
   * or more. It must stay well above the transactions of one interval: at one connection a
   * gateway commits ~2,800 a second (560 in 200 ms), and a healthy worker's copying would
   * otherwise move to the event loop.
   */
  #commitsWithoutReport: number;
  /** A catchUp() is already scheduled: the next commits schedule none. */
  #catchUpScheduled = false;

  private constructor(worker: Worker, db: DatabaseSync, restartFrames: number) {
    this.#worker = worker;
    this.#db = db;
    this.#commitsWithoutReport = Math.max(1, Math.ceil(restartFrames / 2));
  }

  /** Turns autocheckpoint off on `db` and starts the worker on the same file. */
  static start(
    db: DatabaseSync,
    path: string,
    options: { intervalMs?: number; restartFrames?: number } = {},
  ): SqliteCheckpointer {
    const worker = new Worker(new URL("./sqlite_checkpoint_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const restartFrames = options.restartFrames ?? DEFAULT_RESTART_FRAMES;
    const c = new SqliteCheckpointer(worker, db, restartFrames);
    worker.onmessage = (e: MessageEvent<CheckpointReport>) => c.#report(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      c.#dead = true;
      c.#fallBack();
    };
    db.exec("PRAGMA wal_autocheckpoint = 0");
    const cmd: CheckpointCommand = {
      kind: "start",
      path,
      intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS,
      restartFrames,
    };
    worker.postMessage(cmd);
    return c;
  }

  #report(r: CheckpointReport): void {
    if (r.kind === "checkpointed") {
      this.checkpoints++;
      this.#commitsSinceReport = 0;
      if (r.restartDue) this.restartDue = true;
    } else if (r.kind === "failed") this.#fallBack();
    else if (r.kind === "stopped") this.#onStopped?.();
  }

  /**
   * Counts one committed write transaction; true when the caller should schedule catchUp()
   * (once until it ran).
   */
  committed(): boolean {
    if (++this.#commitsSinceReport >= this.#commitsWithoutReport) this.restartDue = true;
    if (!this.restartDue || this.#catchUpScheduled) return false;
    this.#catchUpScheduled = true;
    return true;
  }

  /**
   * Copies, on the connection itself and between two transactions, the frames the worker has
   * not copied yet (few: it just ran), so the next transaction starts the WAL over. Call it only
   * outside a transaction. While the worker's own checkpoint runs it is busy: it stays due and
   * the next call (after the next transaction) tries again.
   */
  catchUp(): void {
    this.#catchUpScheduled = false;
    if (!this.#db.isOpen || this.#db.isTransaction) return;
    const [r] = this.#db.prepare("PRAGMA wal_checkpoint(PASSIVE)").all() as Array<{ busy: number }>;
    if (Number(r?.busy) === 0) {
      this.restartDue = false;
      this.#commitsSinceReport = 0;
    }
  }

  /** The worker cannot checkpoint: the connection does it itself again, as SQLite's default. */
  #fallBack(): void {
    if (this.#db.isOpen) this.#db.exec("PRAGMA wal_autocheckpoint = 1000");
  }

  /** Stops the worker (after its last checkpoint) and waits until it is gone. */
  stop(): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      if (this.#dead) {
        this.#worker.terminate();
        return resolve();
      }
      const done = () => {
        clearTimeout(timeout);
        this.#worker.terminate();
        resolve();
      };
      const timeout = setTimeout(done, STOP_TIMEOUT_MS);
      this.#onStopped = done;
      const cmd: CheckpointCommand = { kind: "stop" };
      this.#worker.postMessage(cmd);
    });
    return this.#stopped;
  }
}
