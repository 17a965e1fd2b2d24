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
  close(): void;
}

/** Forwards 127.0.0.1:<free port> to `target`. */
export function startTcpForwarder(target: { hostname: string; port: number }): TcpForwarder {
  let listener: Deno.TcpListener | null = null;
  const open = new Set<Deno.Conn>();
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable);
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
        pipe(client, server);
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
  const cut = () => {
    try {
      listener?.close();
    } catch { /* closed */ }
    listener = null;
    for (const c of open) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    open.clear();
  };
  return { port, cut, restore: () => void listen(port), close: cut };
}
