/**
 * MAX_BODY_BYTES for both listeners: larger bodies get 413 before they are read in full.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

/**
 * Refuses bodies over `maxBytes` (by Content-Length at once, else while streaming) via `fail`.
 * A declared Content-Length is judged without touching the request's `body`: Deno then knows the
 * body is unread, so its 413 says `Connection: close` and the connection is not reused. (Once
 * `body` has been touched, Deno 2.9 keeps the connection alive even when the response sets
 * `Connection: close`, so that header is not set here.)
 */
export function limitBody(maxBytes: number, fail: (message: string) => Error): MiddlewareHandler {
  const message = `Request body is larger than ${maxBytes} bytes (MAX_BODY_BYTES)`;
  const streamed = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw fail(message);
    },
  });
  return function limitBody(c, next) {
    const headers = c.req.raw.headers;
    const length = headers.get("content-length");
    if (length === null || headers.has("transfer-encoding")) return streamed(c, next);
    if (parseInt(length, 10) > maxBytes) throw fail(message);
    return next();
  };
}
