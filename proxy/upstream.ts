/**
 * Talking to Ollama: which headers cross the gateway in each direction.
 * @module
 */
import { fetchFailureWords } from "../core/fetch_failure.ts";
import { withoutControlCharacters } from "../core/text.ts";
import { ollamaNeededFor } from "./ollama_versions.ts";

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

/**
 * A header list as `fetch` and `Response` take it. The relay builds lists, not `Headers`: a
 * `Headers` object made only to be handed over is validated and copied again by its taker.
 */
export type HeaderList = Array<[string, string]>;

/**
 * Headers to send to Ollama: the client's, minus credentials, hop-by-hop ones, and who is asking
 * (Open WebUI's `X-OpenWebUI-*` and `also`, a delegating key's renamed identity headers), with
 * `put` in place of the client's headers of those names (lower-case names).
 */
export function upstreamHeaders(
  incoming: Headers,
  also: ReadonlyArray<string> = [],
  put: Readonly<Record<string, string>> = {},
): HeaderList {
  const out: HeaderList = [];
  for (const [name, value] of incoming) {
    if (DROP_TO_UPSTREAM.has(name) || name.startsWith("x-openwebui-") || Object.hasOwn(put, name)) {
      continue;
    }
    if (also.length > 0 && also.some((a) => a.toLowerCase() === name)) continue;
    out.push([name, value]);
  }
  for (const name in put) out.push([name, put[name]]);
  // fetch sets Host from OLLAMA_URL, which passes Ollama's loopback Host check.
  return out;
}

/**
 * Headers to send back to the client from Ollama's answer, with `put` (the quota headers, in
 * lower case) in place of any of Ollama's of those names.
 */
export function clientHeaders(
  upstream: Headers,
  put: Readonly<Record<string, string>> = {},
): HeaderList {
  const out: HeaderList = [];
  for (const [name, value] of upstream) {
    // hasOwn, not `in`: a header named `constructor` or `__proto__` is a header too.
    if (!DROP_TO_CLIENT.has(name) && !Object.hasOwn(put, name)) out.push([name, value]);
  }
  for (const name in put) out.push([name, put[name]]);
  return out;
}

/** `headers` with Ollama's bearer token for a box that has one (the client's was dropped). */
export function withToken(headers: HeaderList, token: string | null): HeaderList {
  return token ? [...headers, ["authorization", `Bearer ${token}`]] : headers;
}

/**
 * Why Ollama could not be reached, in words for a key holder: the cause (connection refused,
 * unknown host, reset, TLS) without the URL, which is the admin's business (it is logged).
 */
export function unreachableReason(err: unknown): string {
  return fetchFailureWords(err);
}

/**
 * A non-JSON error body of Ollama's (gin's `404 page not found` for a route an older Ollama
 * lacks) as a message for the route's error shape; null when the body is JSON and is passed on.
 * `route` is the route's pattern (`/v1/models/:model`) when `path` fills one in.
 */
export function nonJsonError(
  status: number,
  path: string,
  body: Uint8Array,
  route: string = path,
): string | null {
  const text = new TextDecoder().decode(body).trim();
  if (text.startsWith("{") || text.startsWith("[")) {
    try {
      JSON.parse(text);
      return null;
    } catch { /* not JSON after all: described below */ }
  }
  const shown = withoutControlCharacters(text.slice(0, 200));
  if (status === 404 || status === 405) {
    return `Ollama does not serve ${path} (it answered ${status}${
      shown ? `: ${shown}` : ""
    }); this route needs ${ollamaNeededFor(route)}`;
  }
  return `Ollama answered ${status}${shown ? `: ${shown}` : " without a body"}`;
}
