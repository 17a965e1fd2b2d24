/**
 * A raw HTTP/1.1 client over one TCP connection (Deno.connect), for requests `fetch` would not
 * send as written: unnormalised paths (`/api/../admin`, `%2F`, `//`), NUL bytes, oversized or odd
 * headers, bodies that are not UTF-8, bodies larger than they claim. One request per connection
 * (`Connection: close`); the answer is read to its declared end, else to the connection's.
 * @module
 */

/** A response as read off the wire. */
export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Headers;
  /** The body, de-chunked when it came chunked. */
  body: Uint8Array;
  /** The body as text (UTF-8, lenient). */
  text: string;
}

/** One raw request: a request line made of `method` and `target` exactly as given. */
export interface RawRequest {
  method: string;
  /** The request target, sent byte for byte (it may hold anything but CR/LF). */
  target: string;
  /** Header lines in order; `Host` and `Connection: close` are added unless present. */
  headers?: Array<[string, string]>;
  /** Sent with a Content-Length header unless `headers` already frames the body. */
  body?: string | Uint8Array;
  /** How long to wait for the whole answer (default 15 s). */
  timeoutMs?: number;
}

const enc = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The request's bytes as they go on the wire. */
export function encodeRequest(req: RawRequest, host: string): Uint8Array {
  const headers = [...(req.headers ?? [])];
  const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
  if (!has("host")) headers.unshift(["Host", host]);
  if (!has("connection")) headers.push(["Connection", "close"]);
  const body = typeof req.body === "string" ? enc.encode(req.body) : req.body;
  if (body && !has("content-length") && !has("transfer-encoding")) {
    headers.push(["Content-Length", String(body.length)]);
  }
  const head = `${req.method} ${req.target} HTTP/1.1\r\n` +
    headers.map(([n, v]) => `${n}: ${v}\r\n`).join("") + "\r\n";
  return concat([enc.encode(head), body ?? new Uint8Array()]);
}

/** Parses a whole HTTP/1.1 response (status line, headers, body to the end). */
export function parseResponse(bytes: Uint8Array): RawResponse {
  let text = new TextDecoder("latin1").decode(bytes);
  // Interim answers (100 Continue) are skipped.
  while (/^HTTP\/1\.[01] 1\d\d/.test(text) && text.includes("\r\n\r\n")) {
    const skip = text.indexOf("\r\n\r\n") + 4;
    text = text.slice(skip);
    bytes = bytes.subarray(skip);
  }
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`incomplete response: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let body = bytes.subarray(end + 4);
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) body = dechunk(body);
  return {
    status: Number(match[1]),
    headers,
    body,
    text: new TextDecoder().decode(body),
  };
}

function dechunk(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  const latin = new TextDecoder("latin1");
  while (at < bytes.length) {
    const lineEnd = latin.decode(bytes.subarray(at, Math.min(bytes.length, at + 32))).indexOf(
      "\r\n",
    );
    if (lineEnd < 0) break;
    const size = parseInt(latin.decode(bytes.subarray(at, at + lineEnd)), 16);
    if (!(size > 0)) break;
    const start = at + lineEnd + 2;
    parts.push(bytes.subarray(start, start + size));
    at = start + size + 2;
  }
  return concat(parts);
}

/** Whether `bytes` hold a whole response; null while more is needed. */
function completeLength(bytes: Uint8Array, method: string): number | null {
  const text = new TextDecoder("latin1").decode(bytes);
  let from = 0;
  while (true) {
    const end = text.indexOf("\r\n\r\n", from);
    if (end < 0) return null;
    const head = text.slice(from, end);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
    // An interim answer (100 Continue) comes before the real one.
    if (status >= 100 && status < 200) {
      from = end + 4;
      continue;
    }
    const bodyStart = end + 4;
    if (method === "HEAD" || status === 204 || status === 304) return bodyStart;
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
    if (length !== undefined) {
      return bytes.length - bodyStart >= Number(length) ? bodyStart + Number(length) : null;
    }
    if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
      return /(?:^|\r\n)0\r\n\r\n$/.test(text.slice(bodyStart)) ? bytes.length : null;
    }
    return null; // delimited by the end of the connection
  }
}

/**
 * Reads from `conn` until `end` (given all bytes so far) returns where the wanted bytes end, or
 * the server closes the connection; closes it at `timeoutMs` and reports that it timed out.
 */
async function readUntil(
  conn: Deno.Conn,
  timeoutMs: number,
  end: (bytes: Uint8Array) => number | null,
): Promise<{ bytes: Uint8Array; timedOut: boolean }> {
  const parts: Uint8Array[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  }, timeoutMs);
  try {
    const buf = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      parts.push(buf.slice(0, n));
      const whole = end(concat(parts));
      if (whole !== null) return { bytes: concat(parts).subarray(0, whole), timedOut: false };
    }
  } catch (err) {
    // A reset (the server closed with unread request bytes) ends the connection too.
    if (!timedOut && !(err instanceof Deno.errors.ConnectionReset)) throw err;
  } finally {
    clearTimeout(timer);
  }
  return { bytes: concat(parts), timedOut };
}

/**
 * Reads the answer: up to its declared end (Content-Length, last chunk), or else until the
 * server closes the connection; fails at `timeoutMs`. The server may keep the connection open
 * after answering early (a 413 before the body is read), so the end of the connection is not
 * waited for when the answer says how long it is.
 */
async function readResponse(
  conn: Deno.Conn,
  timeoutMs: number,
  method: string,
  what: string,
): Promise<Uint8Array> {
  const { bytes, timedOut } = await readUntil(
    conn,
    timeoutMs,
    (b) => completeLength(b, method),
  );
  if (timedOut) throw new Error(`no complete answer within ${timeoutMs} ms to ${what}`);
  return bytes;
}

/** Sends one raw request to `baseUrl` (http://host:port) and reads the whole answer. */
export async function rawRequest(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  const what = `${req.method} ${JSON.stringify(req.target)}`;
  try {
    try {
      await conn.write(encodeRequest(req, url.host));
    } catch (err) {
      // The server may answer and close before reading all of a refused request.
      if (!(err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.BrokenPipe)) {
        throw err;
      }
    }
    return parseResponse(await readResponse(conn, req.timeoutMs ?? 15_000, req.method, what));
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/**
 * Opens a connection and sends only the request head, leaving the body to the caller: for bodies
 * that are larger than the server accepts, sent slowly or never finished.
 */
export async function openRawRequest(
  baseUrl: string,
  req: Omit<RawRequest, "body">,
): Promise<{
  /** Writes body bytes; false once the server has closed its side. */
  write(bytes: Uint8Array): Promise<boolean>;
  /** The answer, read to its declared end. */
  response: Promise<RawResponse>;
  /**
   * Once `response` is in: reads on until the server closes the connection and returns what
   * arrived meanwhile; fails when the connection is still open after `timeoutMs`.
   */
  untilClosed(timeoutMs: number): Promise<Uint8Array>;
  close(): void;
}> {
  const url = new URL(baseUrl);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  await conn.write(encodeRequest(req, url.host));
  const what = `${req.method} ${req.target}`;
  const response = readResponse(conn, req.timeoutMs ?? 15_000, req.method, what)
    .then(parseResponse);
  response.catch(() => {});
  let closed = false;
  return {
    async write(bytes) {
      if (closed) return false;
      try {
        await conn.write(bytes);
        return true;
      } catch {
        return false;
      }
    },
    response,
    async untilClosed(timeoutMs) {
      await response;
      const { bytes, timedOut } = await readUntil(conn, timeoutMs, () => null);
      if (timedOut) {
        throw new Error(`the connection was still open after ${timeoutMs} ms (${what})`);
      }
      return bytes;
    },
    close() {
      closed = true;
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
}
