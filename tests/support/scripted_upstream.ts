/**
 * A stand-in Ollama on a raw socket that writes a streamed answer in exactly the pieces a test
 * gives, each as its own HTTP chunk with a pause after it, so the gateway reads them one by one
 * (reads that end mid-event, a usage event alone). It can also drop the connection mid-stream.
 * @module
 */
import assert from "node:assert/strict";
import type { TestGateway } from "./gateway.ts";

/** What the scripted upstream answers on one path. */
export interface Script {
  contentType: string;
  /** The body, one HTTP chunk per element. */
  writes: string[];
  /** Close the connection after the writes without ending the body (Ollama died). */
  die?: boolean;
}

/** A running scripted upstream. */
export interface ScriptedUpstream {
  url: string;
  /** Request bodies received, by path, parsed. */
  bodies: Map<string, unknown>;
  close(): void;
}

const enc = new TextEncoder();
const PAUSE_MS = 15;

/** Starts a scripted upstream serving `scripts` by request path (404 for any other). */
export function startScriptedUpstream(scripts: Record<string, Script>): ScriptedUpstream {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const bodies = new Map<string, unknown>();
  const serve = async (conn: Deno.Conn) => {
    const { path, body } = await readRequest(conn);
    bodies.set(path, JSON.parse(body || "null"));
    const script = scripts[path];
    if (!script) {
      await conn.write(enc.encode("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"));
      return;
    }
    await conn.write(enc.encode(
      `HTTP/1.1 200 OK\r\ncontent-type: ${script.contentType}\r\ntransfer-encoding: chunked\r\n\r\n`,
    ));
    for (const write of script.writes) {
      const bytes = enc.encode(write);
      await conn.write(enc.encode(`${bytes.length.toString(16)}\r\n`));
      await conn.write(bytes);
      await conn.write(enc.encode("\r\n"));
      // A pause (not an assertion): it makes each write a read of its own on the other side.
      await new Promise((r) => setTimeout(r, PAUSE_MS));
    }
    if (!script.die) await conn.write(enc.encode("0\r\n\r\n"));
  };
  (async () => {
    for await (const conn of listener) {
      serve(conn).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch { /* closed by the peer already */ }
      });
    }
  })().catch(() => {}); // the listener was closed
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    bodies,
    close: () => listener.close(),
  };
}

/** Reads one request's path and body (Content-Length framed, as the gateway's fetch sends it). */
async function readRequest(conn: Deno.Conn): Promise<{ path: string; body: string }> {
  let data = new Uint8Array(0);
  const buf = new Uint8Array(65536);
  const text = () => new TextDecoder().decode(data);
  while (true) {
    const head = text().indexOf("\r\n\r\n");
    if (head !== -1) {
      const length = Number(/content-length: *(\d+)/i.exec(text().slice(0, head))?.[1] ?? 0);
      const bodyStart = enc.encode(text().slice(0, head + 4)).length;
      if (data.length >= bodyStart + length) {
        return {
          path: text().split(" ")[1],
          body: new TextDecoder().decode(data.subarray(bodyStart, bodyStart + length)),
        };
      }
    }
    const n = await conn.read(buf);
    if (n === null) throw new Error("the request ended early");
    const next = new Uint8Array(data.length + n);
    next.set(data);
    next.set(buf.subarray(0, n), data.length);
    data = next;
  }
}

/** Points the test gateway's Ollama URL at `url` (the admin setting). */
export async function pointGatewayAt(t: TestGateway, url: string): Promise<void> {
  const res = await t.admin("/api/settings", {
    method: "PUT",
    body: JSON.stringify({ ollama_url: url }),
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
}

/** Cuts a stream's text into its events (ending at `separator`), each cut into `parts` writes. */
export function cutEvents(text: string, separator: string, parts: number): string[] {
  const writes: string[] = [];
  for (const event of text.split(new RegExp(`(?<=${separator})`))) {
    const size = Math.ceil(event.length / parts);
    for (let i = 0; i < event.length; i += size) writes.push(event.slice(i, i + size));
  }
  return writes;
}
