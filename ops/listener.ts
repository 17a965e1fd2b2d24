/**
 * The HTTP listener both listeners use: our own accept loop on `Deno.listen`, HTTP served one
 * connection at a time, a cap on open connections, a headers timeout and an idle timeout for
 * keep-alive connections, and accept errors (EMFILE, ECONNABORTED, …) that never end the process.
 *
 * Why not `Deno.serve`: in Deno 2.9 it has no headers or idle timeout and no connection cap (an
 * idle TCP connection, one with partial headers and a keep-alive connection all stay open
 * forever), and its accept loop runs in Rust and ends the process when accept fails with EMFILE.
 * `node:http` in Deno does not enforce `headersTimeout` either. The internal
 * `Deno[Deno.internal].serveHttpOnConnection` serves HTTP (the same Rust server as `Deno.serve`)
 * on one connection we accepted ourselves, which gives us the accept loop and a handle per
 * connection: `shutdown()` closes it gracefully (a running response finishes; an idle
 * connection, or one with partial headers, closes at once) and its `finished` promise settles
 * when it is closed. When a future Deno drops that API, `Deno.serve` is used with a warning that
 * the timeouts and the cap are unavailable.
 * @module
 */
import type { Logger } from "../core/log.ts";

/** What a listener needs. */
export interface ListenerOptions {
  /** `proxy` or `admin`: named in log lines. */
  name: string;
  hostname: string;
  port: number;
  /** Open connections at most; the variable that sets it is named when the cap is reached. */
  maxConnections: number;
  maxConnectionsVariable: string;
  /** How long a new connection may take to send its first request's headers. */
  headersTimeoutMs: number;
  /** How long a keep-alive connection may stay without a request after its last response. */
  idleTimeoutMs: number;
  log: Logger;
}

/** Answers one request; `info.remoteAddr` is the client's socket address. */
export type Handler = (
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** A running listener. */
export interface Listener {
  /** The bound address (port 0 resolved to the real port). */
  readonly addr: Deno.NetAddr;
  /** Connections open now. */
  readonly connections: number;
  /** Starts serving with `handler` (the socket is bound already: connections wait in the backlog). */
  serve(handler: Handler): void;
  /**
   * Stops accepting and closes every connection gracefully: running requests may finish, idle
   * ones close at once. Resolves when all are closed.
   */
  shutdown(): Promise<void>;
  /** Closes every connection at once, cutting running responses (after the grace period). */
  abort(): void;
}

/** The handle `serveHttpOnConnection` returns for one connection. */
interface ServedConnection {
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: Handler,
  onError: (error: unknown) => Response | Promise<Response>,
  onListen: (scheme: string) => void,
) => ServedConnection;

const internal = (Deno as unknown as { internal?: symbol }).internal;
const serveOnConnection = internal === undefined ? undefined : (Deno as unknown as Record<
  symbol,
  { serveHttpOnConnection?: ServeOnConnection } | undefined
>)[internal]?.serveHttpOnConnection;

/** Whether the timeouts and the connection cap are available in this Deno. */
export const connectionControl = typeof serveOnConnection === "function";

/** Log lines about accept errors and a reached cap come at most this often per listener. */
const WARN_EVERY_MS = 5000;
/** Backoff after a failed accept: doubles from the first value up to the last. */
const BACKOFF_MS = [10, 1000] as const;

/** One accepted connection's bookkeeping. */
interface Connection {
  served: ServedConnection;
  abort: AbortController;
  /** Requests whose handler ran and whose response has not been fully sent yet. */
  inFlight: number;
  /** Requests seen: 0 means the first request's headers are still awaited. */
  requests: number;
  /** When it was accepted, or its last response ended. */
  lastActive: number;
  closing: boolean;
}

/** A plain answer for a connection refused at the cap, written before it is closed. */
const REFUSED = (() => {
  const body = '{"error":"Too many connections to the gateway; try again shortly"}';
  return new TextEncoder().encode(
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n" +
      `Connection: close\r\nRetry-After: 1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
})();

/**
 * Every serving listener of this process: descriptors are per process, so when one listener
 * cannot accept for lack of them (the cap is above the real open-file limit), idle connections
 * of any listener are closed to make room.
 */
const serving = new Set<Serving>();
interface Serving {
  oldestIdle(): Connection | undefined;
  close(c: Connection): void;
}
/** Idle connections closed per accept that failed with EMFILE/ENFILE. */
const RELIEVE_PER_FAILURE = 16;

/** Closes up to `count` of the connections idle the longest, over every listener; how many. */
function relieveDescriptors(count: number): number {
  let closed = 0;
  for (; closed < count; closed++) {
    let oldest: Connection | undefined, owner: Serving | undefined;
    for (const l of serving) {
      const c = l.oldestIdle();
      if (c && (!oldest || c.lastActive < oldest.lastActive)) [oldest, owner] = [c, l];
    }
    if (!oldest) break;
    owner!.close(oldest);
  }
  return closed;
}

/**
 * Binds `hostname:port` now (so a taken port fails here, before anything else starts) and
 * returns a listener that serves once `serve()` is called. Bind errors are thrown as they are.
 */
export function listen(options: ListenerOptions): Listener {
  if (!connectionControl) return fallbackListener(options);
  const socket = Deno.listen({ hostname: options.hostname, port: options.port });
  const { log, name } = options;
  // Insertion order is the order of last activity: a connection is moved to the end when a
  // response ends, so the first idle one found is the one idle the longest.
  const open = new Map<Connection, true>();
  let closingCount = 0;
  let stopped = false;
  let sweeper: ReturnType<typeof setInterval> | undefined;
  let accepting: Promise<void> = Promise.resolve();
  let handler: Handler;

  let lastCapWarning = -Infinity, evicted = 0, refused = 0;
  const capReached = () => {
    const now = Date.now();
    if (now - lastCapWarning < WARN_EVERY_MS) return;
    lastCapWarning = now;
    log.warn("connection limit reached", {
      listener: name,
      limit: options.maxConnections,
      variable: options.maxConnectionsVariable,
      idle_closed: evicted,
      refused,
      hint:
        `the oldest idle connection is closed for a new one; when none is idle, new ones are refused; raise ${options.maxConnectionsVariable} (and the open-file limit) if this is real traffic`,
    });
    evicted = 0;
    refused = 0;
  };

  let lastAcceptWarning = -Infinity, acceptErrors = 0, relieved = 0;
  const acceptFailed = (err: Error) => {
    acceptErrors++;
    const now = Date.now();
    if (now - lastAcceptWarning < WARN_EVERY_MS) return;
    lastAcceptWarning = now;
    log.warn("cannot accept connections", {
      listener: name,
      error: err.message,
      failures: acceptErrors,
      ...(outOfDescriptors(err) ? { idle_closed: relieved } : {}),
      hint: outOfDescriptors(err)
        ? `out of file descriptors: idle connections are closed to make room; lower ${options.maxConnectionsVariable} below the open-file limit, or raise that (ulimit -n)`
        : "retrying",
    });
    acceptErrors = 0;
    relieved = 0;
  };

  const close = (c: Connection) => {
    if (c.closing || !open.has(c)) return;
    c.closing = true;
    closingCount++;
    // Graceful: a request that arrived meanwhile still gets its answer.
    c.served.shutdown().catch(() => {/* the connection is gone already */});
  };

  const serveConnection = (conn: Deno.Conn) => {
    const abort = new AbortController();
    const c: Connection = {
      served: undefined as unknown as ServedConnection,
      abort,
      inFlight: 0,
      requests: 0,
      lastActive: Date.now(),
      closing: false,
    };
    const ended = () => {
      c.inFlight--;
      c.lastActive = Date.now();
      // Not when it is closing or gone already (a client that left may settle after that).
      if (!c.closing && open.delete(c)) open.set(c, true);
      // Shutting down: a connection whose last request ended closes now (see shutdown()).
      if (stopped && c.inFlight === 0) close(c);
    };
    c.served = serveOnConnection!(
      conn,
      abort.signal,
      (req, info) => {
        c.inFlight++;
        c.requests++;
        // Settles when the body was sent; rejects when the client left. Either way it ended.
        info.completed.then(ended, ended);
        return handler(req, info);
      },
      (err) => {
        log.error("unexpected error", { listener: name, error: (err as Error)?.message });
        return Response.json({ error: "Internal gateway error" }, { status: 500 });
      },
      () => {},
    );
    open.set(c, true);
    c.served.finished.catch(() => {/* a connection reset ends it too */}).finally(() => {
      open.delete(c);
      if (c.closing) closingCount--;
    });
  };

  const oldestIdle = () => {
    for (const c of open.keys()) if (c.inFlight === 0 && !c.closing) return c;
  };
  const self: Serving = { oldestIdle, close };

  const admit = (conn: Deno.Conn) => {
    if (open.size - closingCount >= options.maxConnections) {
      const idle = oldestIdle();
      if (idle) {
        close(idle);
        evicted++;
        capReached();
      } else {
        refused++;
        capReached();
        conn.write(REFUSED).catch(() => {/* the client left */}).finally(() => {
          try {
            conn.close();
          } catch { /* already closed */ }
        });
        return;
      }
    }
    serveConnection(conn);
  };

  const acceptLoop = async () => {
    let backoff = 0;
    while (!stopped) {
      let conn: Deno.Conn;
      try {
        conn = await socket.accept();
      } catch (err) {
        if (stopped || err instanceof Deno.errors.BadResource) return;
        // Out of descriptors: idle connections make room, so the next try can succeed at once.
        const freed = outOfDescriptors(err as Error) ? relieveDescriptors(RELIEVE_PER_FAILURE) : 0;
        relieved += freed;
        acceptFailed(err as Error);
        backoff = freed > 0
          ? BACKOFF_MS[0]
          : Math.min(BACKOFF_MS[1], backoff === 0 ? BACKOFF_MS[0] : backoff * 2);
        await new Promise((r) => setTimeout(r, backoff));
        continue;
      }
      backoff = 0;
      if (stopped) {
        conn.close();
        return;
      }
      try {
        admit(conn);
      } catch (err) {
        // Serving one connection failed (e.g. out of descriptors for its internals): drop it.
        acceptFailed(err as Error);
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    }
  };

  const sweep = () => {
    const now = Date.now();
    for (const c of open.keys()) {
      if (c.inFlight > 0 || c.closing) continue;
      const limit = c.requests === 0 ? options.headersTimeoutMs : options.idleTimeoutMs;
      if (now - c.lastActive >= limit) close(c);
    }
  };

  return {
    addr: socket.addr as Deno.NetAddr,
    get connections() {
      return open.size;
    },
    serve(h) {
      handler = h;
      // One timer per listener; its period bounds how late a timeout fires.
      const period = Math.min(
        1000,
        Math.max(50, Math.min(options.headersTimeoutMs, options.idleTimeoutMs) / 4),
      );
      const timer = setInterval(sweep, period);
      Deno.unrefTimer(timer);
      sweeper = timer;
      serving.add(self);
      accepting = acceptLoop();
    },
    async shutdown() {
      stopped = true;
      serving.delete(self);
      clearInterval(sweeper);
      try {
        socket.close();
      } catch { /* closed already */ }
      // Idle connections close now; busy ones once their request ended. Not a graceful
      // shutdown of busy ones: after that, Deno can no longer cut them (abort() would throw an
      // uncatchable BadResource and leave the connection open).
      for (const c of open.keys()) if (c.inFlight === 0) close(c);
      // A connection accepted meanwhile is closed by the loop itself, which sees `stopped`.
      await accepting;
      await Promise.all([...open.keys()].map((c) => c.served.finished.catch(() => {})));
    },
    abort() {
      // Only connections never shut down gracefully can be cut (see shutdown()); the others
      // were idle when closed and end by themselves.
      for (const c of open.keys()) if (!c.closing) c.abort.abort();
    },
  };
}

function outOfDescriptors(err: Error): boolean {
  const code = (err as { code?: string }).code;
  return code === "EMFILE" || code === "ENFILE";
}

/** `Deno.serve` when the per-connection API is missing: no timeouts, no cap. */
function fallbackListener(options: ListenerOptions): Listener {
  let handler: Handler | undefined;
  let ready: () => void;
  const started = new Promise<void>((r) => ready = r);
  const server = Deno.serve(
    { hostname: options.hostname, port: options.port, onListen() {} },
    async (req, info) => {
      if (!handler) await started;
      return handler!(req, info);
    },
  );
  return {
    addr: server.addr,
    connections: 0,
    serve(h) {
      handler = h;
      options.log.warn(
        "this Deno has no per-connection HTTP API: headers and idle timeouts and the connection cap are off",
        { listener: options.name, deno: Deno.version.deno },
      );
      ready();
    },
    shutdown: () => server.shutdown(),
    abort() {/* Deno.serve cannot cut connections; the process exits after shutdown */},
  };
}
