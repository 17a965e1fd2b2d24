/**
 * The container's HEALTHCHECK: exits 0 when GET /healthz on the proxy answers 200 within 3 s,
 * else 1. Needs no curl in the image. URL: the first argument, else the local proxy port.
 * @module
 */

/** Whether the health URL answers 200 in time. */
export async function healthy(url: string, timeoutMs = 3000): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  const url = Deno.args[0] ??
    `http://127.0.0.1:${Deno.env.get("PROXY_PORT") || "8000"}/healthz`;
  Deno.exit(await healthy(url) ? 0 : 1);
}
