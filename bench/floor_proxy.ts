/**
 * The least a reverse proxy written for Deno can do: `Deno.serve` + `fetch`, request and
 * response bodies passed through untouched, no auth, no accounting, no logging. The bench runs it
 * as a second floor next to nginx, so the report shows how much of the gateway's cost is the
 * runtime's own HTTP server and client. Run as its own process with `UPSTREAM` and `PORT` (0 =
 * any); it prints `floor listening on http://127.0.0.1:<port>`.
 * @module
 */

const upstream = Deno.env.get("UPSTREAM") ?? "http://127.0.0.1:11434";
const DROP = new Set(["host", "connection", "content-length", "transfer-encoding"]);

Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 0),
  onListen: ({ port }) => console.log(`floor listening on http://127.0.0.1:${port}`),
}, async (req) => {
  const url = new URL(req.url);
  const headers = new Headers();
  for (const [name, value] of req.headers) if (!DROP.has(name)) headers.set(name, value);
  const res = await fetch(upstream + url.pathname + url.search, {
    method: req.method,
    headers,
    body: req.body,
  });
  return new Response(res.body, { status: res.status, headers: res.headers });
});
