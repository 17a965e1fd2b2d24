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

/**
 * Creates a logger that drops entries below `level` and writes to `sink` (stderr by default),
 * as `text` (`time LEVEL msg key=value…`) or `json` (`{"time","level","msg",…fields}`).
 */
export function createLogger(
  level: LogLevel,
  sink: (line: string) => void = (line) => console.error(line),
  format: LogFormat = "text",
): Logger {
  const write = (l: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[l] < ORDER[level]) return;
    const time = new Date().toISOString();
    if (format === "json") {
      sink(JSON.stringify({ time, level: l, msg, ...fields }));
      return;
    }
    const extra = fields
      ? " " + Object.entries(fields).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")
      : "";
    sink(`${time} ${l.toUpperCase()} ${msg}${extra}`);
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}
