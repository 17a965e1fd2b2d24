import assert from "node:assert/strict";
import {
  fetchFailureDetail,
  fetchFailureHint,
  fetchFailureKind,
  fetchFailureWords,
} from "../../core/fetch_failure.ts";
import { OllamaUnavailable, ollamaVersion } from "../../core/ollama.ts";
import { refusedPort } from "../support/ports.ts";

/** What a real fetch to `url` throws. */
async function failureOf(url: string): Promise<unknown> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
  } catch (err) {
    return err;
  }
  throw new Error(`fetch ${url} did not fail`);
}

/** A TCP server that accepts and closes each connection at once (not an HTTP server). */
function startClosingServer(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {/* the listener was closed: the test is over */});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

Deno.test("a refused connection is named as such, not as Deno's bare 'fetch failed'", async () => {
  const err = await failureOf(`http://127.0.0.1:${refusedPort()}/api/version`);
  assert.equal((err as Error).message, "fetch failed", "Deno hides the cause in err.cause");
  assert.equal(fetchFailureKind(err), "refused");
  assert.equal(fetchFailureWords(err), "the connection was refused");
  assert.match(fetchFailureHint(err), /Is Ollama running \(ollama serve\)/);
  assert.match(fetchFailureDetail(err), /^fetch failed: .*Connection refused/);
});

Deno.test("an unknown host, a blocked port, TLS to plain HTTP and a closed socket each say which", async () => {
  const dns = await failureOf("http://no-such-host.invalid:11434/api/version");
  assert.equal(fetchFailureKind(dns), "dns");
  assert.match(fetchFailureHint(dns), /host name/);

  const blocked = await failureOf("http://127.0.0.1:9/api/version");
  assert.equal(fetchFailureKind(blocked), "blocked_port");
  assert.match(fetchFailureHint(blocked), /another port/);

  const plain = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("x"),
  );
  try {
    const tls = await failureOf(`https://127.0.0.1:${plain.addr.port}/api/version`);
    assert.equal(fetchFailureKind(tls), "tls");
    assert.match(fetchFailureHint(tls), /use http:\/\//);
  } finally {
    await plain.shutdown();
  }

  const closing = startClosingServer();
  try {
    const reset = await failureOf(`http://127.0.0.1:${closing.port}/api/version`);
    assert.equal(fetchFailureKind(reset), "reset");
    assert.match(fetchFailureHint(reset), /Something other than Ollama/);
  } finally {
    closing.close();
  }
});

Deno.test("a failure of no known kind carries its cause in the hint, credentials hidden", () => {
  const err = new TypeError("fetch failed", {
    cause: new Error("error sending request for url (http://admin:s3cret@box:11434/): weird"),
  });
  assert.equal(fetchFailureKind(err), "other");
  const hint = fetchFailureHint(err);
  assert.match(hint, /weird/);
  assert.doesNotMatch(hint, /s3cret/);
});

Deno.test("Ollama unreachable: the admin's message says what went wrong and what to check", async () => {
  const url = `http://127.0.0.1:${refusedPort()}`;
  const err = await ollamaVersion(url).then(() => null, (e) => e);
  assert.ok(err instanceof OllamaUnavailable);
  assert.equal(err.reason, "the connection was refused");
  assert.match(
    err.message,
    new RegExp(`^Cannot reach Ollama at ${url}: the connection was refused\\. Is Ollama running`),
  );
  assert.doesNotMatch(err.message, /fetch failed/);
});

Deno.test("a URL that answers, but not as Ollama, is told apart from one that does not answer", async () => {
  const notOllama = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/api/version"
        ? new Response("<html>welcome</html>", { headers: { "content-type": "text/html" } })
        : new Response("404 page not found", { status: 404 }),
  );
  const url = `http://127.0.0.1:${notOllama.addr.port}`;
  try {
    const html = await ollamaVersion(url).then(() => null, (e) => e);
    assert.ok(html instanceof OllamaUnavailable);
    assert.match(
      html.message,
      new RegExp(`^Ollama at ${url} sent an answer that is not JSON\\. Is it Ollama`),
    );
    const prefixed = await ollamaVersion(url + "/ollama").then(() => null, (e) => e);
    assert.match(prefixed.message, /answered 404 for \/api\/version\. .*without a path/);
  } finally {
    await notOllama.shutdown();
  }
});
