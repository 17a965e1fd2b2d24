/**
 * The listeners against clients that hold connections: a flood of idle connections beyond the
 * cap and beyond the open-file limit (the gateway runs under `ulimit -n 256`), connections that
 * never finish their headers, idle keep-alive connections, and quiet requests that must not be
 * cut. Real gateway processes, real sockets.
 * @module
 */
import assert from "node:assert/strict";
import { createTestDatabase } from "../support/databases.ts";
import { ADMIN_PASSWORD, startTestGateway } from "../support/gateway.ts";
import { startMockOllama } from "../support/mock_ollama.ts";
import { type GatewayProcess, spawnGateway } from "../support/processes.ts";

const enc = new TextEncoder();

/** Opens `count` TCP connections to `baseUrl` that never send a byte. */
async function openIdle(baseUrl: string, count: number): Promise<Deno.Conn[]> {
  const url = new URL(baseUrl);
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < count; i++) {
    conns.push(await Deno.connect({ hostname: url.hostname, port: Number(url.port) }));
  }
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const c of conns) {
    try {
      c.close();
    } catch { /* the gateway closed it */ }
  }
}

/**
 * Reads until the server closes `conn` (end of stream or reset): "closed", or "open" when it is
 * still open after `waitMs`. Returns what was read as well.
 */
async function untilClosed(
  conn: Deno.Conn,
  waitMs: number,
): Promise<{ state: "closed" | "open"; text: string }> {
  let text = "";
  let open = true;
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, waitMs);
  try {
    const buf = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) {
        open = false;
        break;
      }
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
  } catch (err) {
    // A reset is a close by the server; a BadResource is our own timer closing it.
    open = !(err instanceof Deno.errors.ConnectionReset);
  } finally {
    clearTimeout(timer);
  }
  try {
    conn.close();
  } catch { /* closed */ }
  return { state: open ? "open" : "closed", text };
}

async function connect(baseUrl: string): Promise<Deno.Conn> {
  const url = new URL(baseUrl);
  return await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
}

async function createKey(gateway: GatewayProcess): Promise<string> {
  const res = await fetch(gateway.adminUrl + "/api/api-keys", {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
    body: JSON.stringify({ name: "flood" }),
  });
  assert.equal(res.status, 201);
  return (await res.json()).key;
}

/** A streamed /api/generate once its first chunk arrived; `rest` gives every line at the end. */
async function startStream(
  gateway: GatewayProcess,
  key: string,
): Promise<{ rest: Promise<Array<Record<string, unknown>>> }> {
  const res = await fetch(gateway.proxyUrl + "/api/generate", {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: "llama3", prompt: "go on" }),
  });
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = (await reader.read()).value ?? "";
  const rest = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
  })();
  rest.catch(() => {});
  return { rest };
}

const FLOODS: Array<{ what: string; env: Record<string, string>; logged: RegExp[] }> = [
  {
    what: "the caps",
    env: { PROXY_MAX_CONNECTIONS: "40", ADMIN_MAX_CONNECTIONS: "20" },
    // Each listener's cap is reached: the oldest idle connection makes room for the new one.
    logged: [
      /connection limit reached listener="proxy" limit=40 variable="PROXY_MAX_CONNECTIONS"/,
      /connection limit reached listener="admin" limit=20 variable="ADMIN_MAX_CONNECTIONS"/,
    ],
  },
  {
    what: "the default caps (the open-file limit is not readable, 4096 is assumed)",
    env: {},
    // The caps are above the real limit: accept runs out of descriptors and idle connections
    // are closed to make room.
    logged: [/cannot accept connections listener="proxy" .*out of file descriptors/],
  },
];

for (const flood of FLOODS) {
  Deno.test(`more idle connections than ${flood.what} and than ulimit -n 256 allows: both listeners still serve and a running stream goes on`, async () => {
    const db = await createTestDatabase("sqlite");
    const mock = await startMockOllama({ chunks: 30, chunkDelayMs: 100 });
    const gateway = await spawnGateway(
      { DATABASE_URL: db.url, OLLAMA_URL: mock.url, LOG_LEVEL: "warn", ...flood.env },
      { openFileLimit: 256 },
    );
    const idle: Deno.Conn[] = [];
    let exitCode: number;
    try {
      const key = await createKey(gateway);
      const running = await startStream(gateway, key);
      // 450 connections: more than both caps together, and more than the 256 descriptors the
      // gateway process may open at all.
      idle.push(...await openIdle(gateway.proxyUrl, 300));
      idle.push(...await openIdle(gateway.adminUrl, 150));

      const health = await fetch(gateway.proxyUrl + "/healthz");
      assert.equal(health.status, 200, gateway.output());
      await health.body?.cancel();
      const tags = await fetch(gateway.proxyUrl + "/api/tags", {
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(tags.status, 200, gateway.output());
      assert.ok(Array.isArray((await tags.json()).models));
      const keys = await fetch(gateway.adminUrl + "/api/api-keys", {
        headers: { authorization: `Bearer ${ADMIN_PASSWORD}` },
      });
      assert.equal(keys.status, 200, gateway.output());
      assert.equal((await keys.json()).length, 1);

      const lines = await running.rest;
      assert.equal(lines.filter((l) => typeof l.response === "string" && !l.done).length, 30);
      assert.equal(lines.at(-1)?.done, true, "the stream ended normally");
      for (const pattern of flood.logged) assert.match(gateway.output(), pattern);
    } finally {
      closeAll(idle);
      exitCode = await gateway.stop();
      await mock.close();
      await db.drop();
    }
    assert.equal(exitCode, 0, gateway.output());
  });
}

Deno.test("headers and idle timeouts close connections that send no request, but never cut a request in flight", async (t) => {
  const db = await createTestDatabase("sqlite");
  // A model load that sends nothing for 2 s, then chunks 1.5 s apart: silences longer than the
  // timeouts, inside a request.
  const mock = await startMockOllama({ firstByteDelayMs: 2000, chunks: 2, chunkDelayMs: 1500 });
  const gateway = await spawnGateway({
    DATABASE_URL: db.url,
    OLLAMA_URL: mock.url,
    HEADERS_TIMEOUT_SECONDS: "0.5",
    IDLE_TIMEOUT_SECONDS: "0.5",
    LOG_LEVEL: "warn",
  });
  let exitCode: number;
  try {
    const key = await createKey(gateway);
    await t.step("a connection that never sends a byte is closed", async () => {
      for (const url of [gateway.proxyUrl, gateway.adminUrl]) {
        assert.equal((await untilClosed(await connect(url), 10_000)).state, "closed", url);
      }
    });
    await t.step("a connection that never finishes its headers is closed", async () => {
      const conn = await connect(gateway.proxyUrl);
      await conn.write(enc.encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1"));
      assert.equal((await untilClosed(conn, 10_000)).state, "closed");
    });
    await t.step("headers trickled a byte at a time do not keep a connection open", async () => {
      const conn = await connect(gateway.proxyUrl);
      const head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + "a".repeat(200);
      let writing = true;
      const trickle = (async () => {
        for (let i = 0; writing && i < head.length; i++) {
          try {
            await conn.write(enc.encode(head[i]));
          } catch {
            return; // closed by the gateway
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const result = await untilClosed(conn, 10_000);
      writing = false;
      await trickle;
      assert.equal(result.state, "closed");
    });
    await t.step("a keep-alive connection is closed once idle after its answer", async () => {
      const conn = await connect(gateway.proxyUrl);
      await conn.write(enc.encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
      const result = await untilClosed(conn, 10_000);
      assert.match(result.text, /^HTTP\/1\.1 200 /, "the request was answered first");
      assert.equal(result.state, "closed");
    });
    await t.step(
      "a request whose answer is silent for longer than the timeouts is not cut",
      async () => {
        const whole = await fetch(gateway.proxyUrl + "/api/generate", {
          method: "POST",
          headers: { authorization: `Bearer ${key}` },
          body: JSON.stringify({ model: "llama3", prompt: "slow", stream: false }),
        });
        assert.equal(whole.status, 200);
        assert.equal((await whole.json()).done, true);
        const lines = await (await startStream(gateway, key)).rest;
        assert.equal(lines.at(-1)?.done, true, JSON.stringify(lines));
        assert.equal(lines.filter((l) => !l.done).length, 2);
      },
    );
  } finally {
    exitCode = await gateway.stop();
    await mock.close();
    await db.drop();
  }
  assert.equal(exitCode, 0, gateway.output());
});

Deno.test("at the cap with no idle connection, a new connection gets 503 with Connection: close and the line names the variable", async () => {
  const t = await startTestGateway("sqlite", {
    env: { PROXY_MAX_CONNECTIONS: "2" },
    mock: { hang: true, chunkDelayMs: 50 },
  });
  const aborts = [new AbortController(), new AbortController()];
  try {
    const { key } = await t.createKey();
    // Two streams in flight hold both connections the proxy may have.
    const streams = aborts.map((a) =>
      fetch(t.gateway.proxyUrl + "/api/generate", {
        method: "POST",
        headers: { authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: "llama3", prompt: "forever" }),
        signal: a.signal,
      })
    );
    const readers = (await Promise.all(streams)).map((r) => r.body!.getReader());
    await Promise.all(readers.map((r) => r.read()));

    const conn = await connect(t.gateway.proxyUrl);
    await conn.write(enc.encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
      .catch(() => {/* refused before it was read */});
    const refused = await untilClosed(conn, 10_000);
    assert.equal(refused.state, "closed");
    assert.match(refused.text, /^HTTP\/1\.1 503 /);
    assert.match(refused.text, /\r\nconnection: close\r\n/i);
    assert.match(refused.text, /"error":"Too many connections/);
    assert.ok(
      t.logs.some((l) =>
        /connection limit reached listener="proxy" limit=2 variable="PROXY_MAX_CONNECTIONS"/
          .test(l) && /refused=1/.test(l)
      ),
      t.logs.join("\n"),
    );
    // The streams were not disturbed.
    for (const r of readers) assert.equal((await r.read()).done, false);
  } finally {
    // The endless streams end only when their clients leave.
    for (const a of aborts) a.abort();
    await t.close();
  }
});

Deno.test("a client that stops reading does not hold the shutdown: its connection is cut after the grace", async () => {
  const db = await createTestDatabase("sqlite");
  // A long fast answer fills the socket buffers of a client that reads nothing.
  const mock = await startMockOllama({ chunks: 500_000 });
  const gateway = await spawnGateway({
    DATABASE_URL: db.url,
    OLLAMA_URL: mock.url,
    SHUTDOWN_GRACE_SECONDS: "1",
    LOG_LEVEL: "warn",
  });
  let stopped: number | string;
  const conn = await connect(gateway.proxyUrl);
  try {
    const key = await createKey(gateway);
    const body = JSON.stringify({ model: "llama3", prompt: "a lot" });
    await conn.write(enc.encode(
      `POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ));
    // Read a little, so the answer has surely started, then never again.
    await conn.read(new Uint8Array(1024));
    await new Promise((r) => setTimeout(r, 500));
    // Without the cut the shutdown waits for this client forever; a deadline reports that.
    stopped = await Promise.race([
      gateway.stop(),
      new Promise<string>((r) => setTimeout(() => r("still running after 60 s"), 60_000)),
    ]);
  } finally {
    conn.close();
    gateway.kill();
    await mock.close();
    await db.drop();
  }
  assert.equal(stopped, 0, gateway.output());
  assert.match(gateway.output(), /^Stopped after \d+(\.\d)? s/m);
});
