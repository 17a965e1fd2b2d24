/**
 * How many connections each listener may hold by default: derived from the process's open-file
 * limit, so a flood of connections meets the cap long before accept (or anything else that
 * needs a descriptor: the database, Ollama, Deno itself) fails with EMFILE.
 * @module
 */

/** Descriptors kept for everything that is not a client connection (Deno, stdio, SQLite). */
const RESERVED = 100;
/** Caps above this buy nothing on one GPU box and cost memory (each idle connection holds buffers). */
const MOST = { proxy: 10_000, admin: 1_000 } as const;
/**
 * Assumed when the limit cannot be read: Deno raises the soft limit to the hard one at start,
 * and hard limits are rarely below this (Docker: 1048576, systemd: 524288). Should the real one
 * be lower, the listeners close idle connections when accept runs out of descriptors.
 */
export const ASSUMED_LIMIT = 4096;

/**
 * The soft `Max open files` of this process (Deno raised it to the hard limit at start), or null
 * when it cannot be read: Deno lets only `--allow-all` read /proc/self/limits, and `deno task
 * start` does not grant that.
 */
export function openFileLimit(): number | null {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    if (soft === "unlimited") return Number.MAX_SAFE_INTEGER;
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Connection caps of both listeners. */
export interface ConnectionCaps {
  proxy: number;
  admin: number;
}

/** The caps in force and the open-file limit they were derived from (null: not readable). */
export type ConnectionLimits = ConnectionCaps & { openFileLimit: number | null };

/**
 * The default caps for an open-file limit: the limit minus 100 and the database pool, halved
 * (a connection may hold a second descriptor, to Ollama), three quarters to the proxy and one
 * quarter to the admin, each at least 1 and at most 10,000 (proxy) and 1,000 (admin).
 */
export function defaultConnectionCaps(limit: number, dbPoolSize: number): ConnectionCaps {
  const connections = Math.max(0, limit - RESERVED - dbPoolSize) / 2;
  return {
    proxy: Math.max(1, Math.min(MOST.proxy, Math.floor(connections * 3 / 4))),
    admin: Math.max(1, Math.min(MOST.admin, Math.floor(connections / 4))),
  };
}

/**
 * Descriptors the caps may use at most (two per connection, plus the reserve and the pool): the
 * start-up report warns when this exceeds the open-file limit.
 */
export function descriptorsNeeded(caps: ConnectionCaps, dbPoolSize: number): number {
  return 2 * (caps.proxy + caps.admin) + RESERVED + dbPoolSize;
}
