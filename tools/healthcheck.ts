/**
 * The container's HEALTHCHECK: exits 0 when GET /healthz on the proxy answers 200 within 3 s,
 * else prints why to stderr (Docker keeps it in `docker inspect`'s health log) and exits 1.
 * Needs no curl in the image, and imports nothing, so the image needs no more than this file.
 * URL: the first argument, else the local proxy port.
 * @module
 */

/** Why the health URL is not healthy, or null when it answers 200 in time. */
export async function unhealthy(url: string, timeoutMs = 3000): Promise<string | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status === 200 ? null : `GET ${url} answered ${res.status}, not 200`;
  } catch (err) {
    if (err instanceof DOMException && err.name === "TimeoutError") {
      return `GET ${url} sent no answer within ${timeoutMs / 1000} s`;
    }
    // Deno's fetch says only "fetch failed"; the reason (refused, reset) is its cause.
    const cause = (err as Error).cause;
    const reason = cause instanceof Error ? cause.message : (err as Error).message;
    return `GET ${url} failed: ${reason}`;
  }
}

if (import.meta.main) {
  const url = Deno.args[0] ??
    `http://127.0.0.1:${Deno.env.get("PROXY_PORT") || "8000"}/healthz`;
  const problem = await unhealthy(url);
  if (problem !== null) console.error(`health check failed: ${problem}`);
  Deno.exit(problem === null ? 0 : 1);
}
