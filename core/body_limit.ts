/**
 * MAX_BODY_BYTES for both listeners: larger bodies get 413 before they are read in full.
 * @module
 */
import { bodyLimit } from "hono/body-limit";

/** Refuses bodies over `maxBytes` (by Content-Length at once, else while streaming) via `fail`. */
export function limitBody(maxBytes: number, fail: (message: string) => Error) {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw fail(`Request body is larger than ${maxBytes} bytes (MAX_BODY_BYTES)`);
    },
  });
}
