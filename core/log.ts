/**
 * A small leveled logger writing one line per event. Callers never pass secrets.
 * @module
 */

/** Log levels from most to least verbose. */
export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Writes leveled, single-line log entries. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** How a log line is written: readable text, or one JSON object per line for log shippers. */
export type LogFormat = "text" | "json";

/** Bytes held before a batch is written at once. */
const BATCH_BYTES = 64 * 1024;
/**
 * How long a line may wait for others: long enough that one connection's requests share a
 * write too (one timer and one write per request was the cost being cut), short enough that a
 * line is on stderr before anyone reading the log would notice.
 */
const BATCH_MS = 25;

/**
 * Lines written in batches: one write per 25 ms (or per 64 KiB) instead of one synchronous
 * write per line, which was a system call per request. Nothing is
 * dropped or reordered: `flush()` writes what is held, and is called before the process writes
 * anything else (process lines), on `Deno.exit` (the `unload` event) and on an uncaught error.
 */
export class LineBatcher {
  #lines: string[] = [];
  #bytes = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  readonly #encoder = new TextEncoder();

  constructor(readonly write: (bytes: Uint8Array) => void) {}

  /** Holds `line` for the next batch. */
  line(line: string): void {
    this.#lines.push(line);
    this.#bytes += line.length + 1;
    if (this.#bytes >= BATCH_BYTES) this.flush();
    else if (this.#timer === null) {
      this.#timer = setTimeout(this.flush, BATCH_MS);
      // A waiting batch must not keep a process alive that is done: `unload` writes it.
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Writes every held line now. */
  readonly flush = (): void => {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#lines.length === 0) return;
    const text = this.#lines.join("\n") + "\n";
    this.#lines = [];
    this.#bytes = 0;
    this.write(this.#encoder.encode(text));
  };
}

/** Writes all of `bytes` to stderr (a write may take only part of them). */
function writeStderr(bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stderr.writeSync(bytes.subarray(offset));
}

/** The process's stderr, batched: every log line and process line goes through it. */
export const stderrLines: LineBatcher = new LineBatcher(writeStderr);
// A line still held when the process ends is written first (Deno.exit, an uncaught error).
addEventListener("unload", stderrLines.flush);
addEventListener("error", stderrLines.flush);
addEventListener("unhandledrejection", stderrLines.flush);

/**
 * Creates a logger that drops entries below `level` and writes to `sink` (batched stderr by
 * default), as `text` (`time LEVEL msg key=value…`) or `json` (`{"time","level","msg",…fields}`).
 */
export function createLogger(
  level: LogLevel,
  sink: (line: string) => void = (line) => stderrLines.line(line),
  format: LogFormat = "text",
): Logger {
  const min = ORDER[level];
  const write = (l: LogLevel) => {
    const upper = l.toUpperCase();
    return (msg: string, fields?: Record<string, unknown>) => {
      if (ORDER[l] < min) return;
      const time = new Date().toISOString();
      if (format === "json") {
        sink(JSON.stringify({ time, level: l, msg, ...fields }));
        return;
      }
      let line = `${time} ${upper} ${msg}`;
      if (fields) { for (const k in fields) line += ` ${k}=${JSON.stringify(fields[k])}`; }
      sink(line);
    };
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}
