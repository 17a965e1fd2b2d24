/**
 * The gateway's admin JSON API as the benchmark uses it: create keys with limits, read usage.
 * @module
 */
import { BENCH_ADMIN_PASSWORD } from "./servers.ts";

const auth = { authorization: `Bearer ${BENCH_ADMIN_PASSWORD}` };

/** Limits every benchmark key gets: high enough never to refuse, present so quotas are checked. */
export const BENCH_LIMITS = {
  daily_request_limit: 100_000_000,
  monthly_request_limit: 1_000_000_000,
  daily_token_limit: 10_000_000_000,
  monthly_token_limit: 100_000_000_000,
};

/** Creates `count` keys (8 at a time) and returns their plaintexts in creation order. */
export async function createKeys(adminUrl: string, count: number, tag: string): Promise<string[]> {
  const keys: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const res = await fetch(`${adminUrl}/api/api-keys`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ name: `bench-${tag}-${i}`, ...BENCH_LIMITS }),
      });
      if (res.status !== 201) throw new Error(`creating a key: ${res.status} ${await res.text()}`);
      keys[i] = (await res.json()).key;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return keys;
}

/** Usage summed over every key this month (requests and tokens). */
export interface UsageTotals {
  requests: number;
  tokens: number;
}

/** Reads `GET /api/api-keys` and sums each key's usage of the month. */
export async function totalUsage(adminUrl: string): Promise<UsageTotals> {
  const res = await fetch(`${adminUrl}/api/api-keys`, { headers: auth });
  if (!res.ok) throw new Error(`listing keys: ${res.status}`);
  const keys = await res.json() as { usage: { month: UsageTotals } }[];
  return keys.reduce(
    (t, k) => ({
      requests: t.requests + k.usage.month.requests,
      tokens: t.tokens + k.usage.month.tokens,
    }),
    { requests: 0, tokens: 0 },
  );
}

/** Per store operation: calls and their summed wall time (s), from llmq_db_duration_seconds. */
export type DbTimes = Record<string, { count: number; sum: number }>;

/** Reads the gateway's /metrics for the time its store calls took. */
export async function dbTimes(adminUrl: string): Promise<DbTimes> {
  const res = await fetch(`${adminUrl}/metrics`, { headers: auth });
  if (!res.ok) throw new Error(`metrics: ${res.status}`);
  const out: DbTimes = {};
  for (
    const m of (await res.text()).matchAll(
      /^llmq_db_duration_seconds_(sum|count)\{op="([^"]+)"\} (\S+)$/gm,
    )
  ) {
    const t = out[m[2]] ??= { count: 0, sum: 0 };
    t[m[1] as "sum" | "count"] = Number(m[3]);
  }
  return out;
}

/**
 * Waits until the recorded usage stops changing (two reads 500 ms apart agree, for at most
 * 30 s): requests a load generator cut off at its deadline are still settled after it ends —
 * later still when a client that left makes a fresh process load its tokenizer — and must not
 * land inside the next exact check.
 */
export async function quietUsage(adminUrl: string): Promise<UsageTotals> {
  let last = await totalUsage(adminUrl);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await totalUsage(adminUrl);
    if (now.requests === last.requests && now.tokens === last.tokens) return now;
    last = now;
  }
  return last;
}
