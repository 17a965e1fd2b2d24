/**
 * A TCP forwarder that tests can cut and restore, to make a database disappear and come back.
 * @module
 */

/** A cuttable TCP path to a target port. */
export interface TcpForwarder {
  port: number;
  /** Closes the listener and every open connection (new ones are refused). */
  cut(): void;
  /** Listens again on the same port. */
  restore(): void;
  /**
   * Closes every open connection but keeps listening, then cuts (as `cut()`) as soon as the
   * client of the next new connection sends its first message after the startup message, which
   * is not passed on: a PostgreSQL client reconnecting dies while it runs its first statement.
   * Resolves once it has cut.
   */
  cutAtFirstStatement(): Promise<void>;
  /** Closes every open connection but keeps listening: clients reconnect at once. */
  drop(): void;
  close(): void;
}

/** PostgreSQL frontend messages a statement starts with: Parse ('P') and Query ('Q'). */
const STATEMENT_TYPES = new Set([0x50, 0x51]);

/** Forwards 127.0.0.1:<free port> to `target`. */
export function startTcpForwarder(target: { hostname: string; port: number }): TcpForwarder {
  let listener: Deno.TcpListener | null = null;
  const open = new Set<Deno.Conn>();
  /** Set by cutAtFirstStatement until a new connection takes it. */
  let armed: (() => void) | null = null;
  const pipe = async (from: Deno.Conn, to: Deno.Conn, onStatement?: () => void) => {
    try {
      // The startup message starts with its length (a 0 byte here): a statement's type byte
      // leads the first chunk only once the session is up.
      const watched = onStatement
        ? from.readable.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, out) {
              if (STATEMENT_TYPES.has(chunk[0])) onStatement();
              else out.enqueue(chunk);
            },
          }),
        )
        : from.readable;
      await watched.pipeTo(to.writable);
    } catch { /* a side closed */ }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch { /* already closed */ }
      open.delete(c);
    }
  };
  const accept = async (l: Deno.TcpListener) => {
    try {
      for await (const client of l) {
        let server: Deno.Conn;
        try {
          server = await Deno.connect(target);
        } catch {
          client.close();
          continue;
        }
        open.add(client);
        open.add(server);
        const onStatement = armed ?? undefined;
        armed = null;
        pipe(client, server, onStatement);
        pipe(server, client);
      }
    } catch { /* listener closed */ }
  };
  const listen = (port: number) => {
    listener = Deno.listen({ hostname: "127.0.0.1", port });
    accept(listener);
    return listener.addr.port;
  };
  const port = listen(0);
  const closeOpen = () => {
    for (const c of open) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    open.clear();
  };
  const cut = () => {
    try {
      listener?.close();
    } catch { /* closed */ }
    listener = null;
    closeOpen();
  };
  const cutAtFirstStatement = () => {
    const { promise, resolve } = Promise.withResolvers<void>();
    armed = () => {
      cut();
      resolve();
    };
    closeOpen();
    return promise;
  };
  return {
    port,
    cut,
    restore: () => void listen(port),
    cutAtFirstStatement,
    drop: closeOpen,
    close: cut,
  };
}
