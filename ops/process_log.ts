/**
 * The lines the gateway process writes about itself — cannot start, started, shutting down,
 * stopped — on stderr, like every log line, whatever LOG_LEVEL says: readable text, or with
 * LOG_FORMAT=json one JSON object per line. stdout stays empty.
 * @module
 */
import { type LogFormat, stderrLines } from "../core/log.ts";

/** Where the lines go (stderr); tests pass their own sink. */
export type Sink = (line: string) => void;

// After the request lines still held in the batch, and written at once: the process may exit next.
const stderr: Sink = (line) => {
  stderrLines.line(line);
  stderrLines.flush();
};

/**
 * Writes one event: `text` in text mode; in json mode `{"time","level","msg",…fields}`, where
 * `msg` is a short stable name (`cannot start`, `shutting down`, `stopped`).
 */
export function processLine(
  format: LogFormat,
  level: "info" | "error",
  msg: string,
  text: string,
  fields: Record<string, unknown> = {},
  sink: Sink = stderr,
): void {
  sink(
    format === "json"
      ? JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })
      : text,
  );
}

/**
 * The log format to use before the configuration is valid (a config error is itself reported
 * in it): `json` when LOG_FORMAT says so, whatever else is wrong.
 */
export function formatFromEnv(env: Record<string, string | undefined>): LogFormat {
  return env.LOG_FORMAT?.trim() === "json" ? "json" : "text";
}

/** Reports why start-up failed; `message` may start with "Cannot start: ". */
export function cannotStart(format: LogFormat, message: string, sink: Sink = stderr): void {
  const reason = message.replace(/^Cannot start: /, "");
  processLine(format, "error", "cannot start", `Cannot start: ${reason}`, { error: reason }, sink);
}
