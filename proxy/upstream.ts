/**
 * Talking to Ollama: which headers cross the gateway in each direction.
 * @module
 */

// RFC 9110 hop-by-hop headers, plus what the gateway owns: credentials, Host, the body framing it
// rewrites, and Origin (CORS is answered by the gateway, and Ollama would reject foreign origins).
const DROP_TO_UPSTREAM = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "authorization",
  "x-api-key",
  "cookie",
  "content-length",
  "accept-encoding",
  "origin",
  "referer",
]);

const DROP_TO_CLIENT = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "content-encoding",
  "date",
]);

/** Headers to send to Ollama: the client's, minus credentials and hop-by-hop ones. */
export function upstreamHeaders(incoming: Headers): Headers {
  const out = new Headers();
  for (const [name, value] of incoming) {
    if (!DROP_TO_UPSTREAM.has(name)) out.set(name, value);
  }
  // fetch sets Host from OLLAMA_URL, which passes Ollama's loopback Host check.
  return out;
}

/** Headers to send back to the client from Ollama's answer. */
export function clientHeaders(upstream: Headers): Headers {
  const out = new Headers();
  for (const [name, value] of upstream) {
    if (!DROP_TO_CLIENT.has(name)) out.set(name, value);
  }
  return out;
}
