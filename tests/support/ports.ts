/**
 * Ports for tests of an Ollama that cannot be reached.
 * @module
 */

/**
 * A loopback port that refuses connections (it was free a moment ago). Not port 9 or 1: fetch
 * blocks those outright, which is another failure than a refused connection.
 */
export function refusedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
