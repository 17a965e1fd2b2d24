/**
 * Why a `fetch` to Ollama failed, read from the error and its causes. Deno's `TypeError` says
 * only "fetch failed"; what went wrong (refused, DNS, TLS, reset) is in `err.cause`. Words for
 * people and a hint on what to do, so no message ends at "fetch failed".
 * @module
 */
import { redactUrlsIn } from "./redact.ts";

/** What kind of failure it was. */
export type FetchFailureKind =
  | "refused"
  | "dns"
  | "reset"
  | "tls"
  | "timeout"
  | "blocked_port"
  | "other";

/** The error's message and its causes' (`fetch failed: error sending request …: … refused`). */
export function fetchFailureDetail(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.includes(message)) parts.push(message);
    e = e instanceof Error ? e.cause : undefined;
  }
  return redactUrlsIn(parts.join(": ") || "unknown error");
}

/** Classifies a failed fetch by what its message and causes say. */
export function fetchFailureKind(err: unknown): FetchFailureKind {
  if ((err as Error)?.name === "TimeoutError") return "timeout";
  const text = fetchFailureDetail(err).toLowerCase();
  if (text.includes("connection refused")) return "refused";
  if (/requests to port \d+ are blocked|bad port/.test(text)) return "blocked_port";
  if (text.includes("dns") || text.includes("lookup") || text.includes("name or service")) {
    return "dns";
  }
  // rustls: "invalid peer certificate", "tls handshake eof", and for TLS to a plain-HTTP port
  // "received corrupt message of type InvalidContentType".
  if (/certificate|tls|ssl|handshake|corrupt message/.test(text)) return "tls";
  if (text.includes("reset") || text.includes("connection closed")) return "reset";
  if (text.includes("timed out") || text.includes("timeout")) return "timeout";
  return "other";
}

const WORDS: Record<FetchFailureKind, string> = {
  refused: "the connection was refused",
  dns: "its host name does not resolve",
  reset: "the connection was closed without an answer",
  tls: "the TLS handshake failed",
  timeout: "the connection timed out",
  blocked_port: "Deno does not connect to that port",
  other: "the connection failed",
};

/** What went wrong, in words for anyone (no URL, no host): "the connection was refused". */
export function fetchFailureWords(err: unknown): string {
  return WORDS[fetchFailureKind(err)];
}

const HINTS: Record<FetchFailureKind, string> = {
  refused:
    "Is Ollama running (ollama serve), on that host and port? An Ollama on another machine must listen on its network address (OLLAMA_HOST=0.0.0.0), not only on 127.0.0.1.",
  dns: "Check the host name in the Ollama URL.",
  reset:
    "Something other than Ollama may listen on that port, or a proxy in between dropped the request: check the port in the Ollama URL (Ollama's default is 11434).",
  tls:
    "Ollama itself serves plain HTTP: use http:// unless a TLS proxy is in front of it, and then check its certificate.",
  timeout:
    "Check the host and port, and that no firewall drops the connection; a busy Ollama may also answer slowly.",
  blocked_port:
    "Fetch refuses a few ports that browsers block too (such as 1, 9, 25): run Ollama on another port (its default is 11434).",
  other: "Check the Ollama URL and that Ollama is running there.",
};

/** What the gateway's admin can do about it, as one or two sentences. */
export function fetchFailureHint(err: unknown): string {
  const kind = fetchFailureKind(err);
  // The unknown case carries the cause itself: without it the admin has nothing to go on.
  return kind === "other" ? `${HINTS.other} (${fetchFailureDetail(err)})` : HINTS[kind];
}
