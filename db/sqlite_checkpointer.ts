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
 * per request (bench/threads.ts, c64 and c1), every 200 ms 3–5 µs. With `synchronous = NORMAL`
 * a commit reaches the disk with the checkpoint that copies it (the WAL is synced first), so
 * the interval is also about how much a power loss (not a crash of the process) can undo:
 * normally the last 0.2 s, longer while another connection's read holds the checkpoint back.
 */
const DEFAULT_INTERVAL_MS = 200;
/** WAL frames (pages) past which the WAL is started over (catchUp): about 16 MiB. */
const DEFAULT_RESTART_FRAMES = 4096;
/**
 * Transactions without a report from the worker after which the connection may catch up on its
 * own (committed()): ~6 frames each at one connection, about 12 MiB of WAL.
 */
const COMMITS_WITHOUT_REPORT = 500;
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
   * When the first transaction after the worker's last report committed (performance.now()):
   * a healthy worker reports it within one interval, however long it had nothing to copy.
   */
  #unreportedSinceMs = 0;
  /** How long without a report makes the worker silent (see committed()). */
  #silentAfterMs: number;
  /** A catchUp() is already scheduled: the next commits schedule none. */
  #catchUpScheduled = false;

  private constructor(worker: Worker, db: DatabaseSync, silentAfterMs: number) {
    this.#worker = worker;
    this.#db = db;
    this.#silentAfterMs = silentAfterMs;
  }

  /** Turns autocheckpoint off on `db` and starts the worker on the same file. */
  static start(
    db: DatabaseSync,
    path: string,
    options: { intervalMs?: number; restartFrames?: number; silentAfterMs?: number } = {},
  ): SqliteCheckpointer {
    const worker = new Worker(new URL("./sqlite_checkpoint_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    const c = new SqliteCheckpointer(worker, db, options.silentAfterMs ?? 2 * intervalMs);
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
      intervalMs,
      restartFrames: options.restartFrames ?? DEFAULT_RESTART_FRAMES,
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
   * (once until it ran). A worker starved of CPU or stuck sends no report: after
   * COMMITS_WITHOUT_REPORT transactions and two intervals since the first of them without one,
   * the connection catches up on its own. Both, not either: one connection commits ~2,800
   * times a second (560 in one interval), and a healthy worker's copying must not move to the
   * event loop.
   */
  committed(): boolean {
    if (++this.#commitsSinceReport === 1) this.#unreportedSinceMs = performance.now();
    if (
      this.#commitsSinceReport >= COMMITS_WITHOUT_REPORT &&
      performance.now() - this.#unreportedSinceMs >= this.#silentAfterMs
    ) this.restartDue = true;
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
