/**
 * A key's recent usage per local day and model, as its holder sees it in `GET /v1/usage`: the
 * settled requests from the rollups (which outlive the request log's retention) plus the
 * requests in flight, which count against the quota from admission on.
 * @module
 */
import type { DayModelUsage, Store } from "../store.ts";
import { BUCKET_MS } from "./rollup.ts";

/** The last `days` local days (today included) of a key, oldest first, then by model. */
export async function keyHistory(
  store: Pick<Store, "usage" | "pendingUsage">,
  keyId: number,
  now: Temporal.Instant,
  timeZone: string,
  days: number,
): Promise<DayModelUsage[]> {
  const start = now.toZonedDateTimeISO(timeZone).startOfDay().subtract({ days: days - 1 });
  const fromDay = start.toPlainDate().toString();
  // Rollups first, then pending: a request that settles between the two reads is missing from
  // this answer for that moment rather than counted twice.
  const settled = await store.usage({
    fromMs: start.epochMilliseconds,
    toMs: Math.floor(now.epochMilliseconds / BUCKET_MS) * BUCKET_MS + BUCKET_MS,
    timeZone,
    groupBy: ["day", "model"],
    keyId,
    // What the answer holds: quota-counted requests and tokens (not the other 51 counters).
    counters: ["charged", "prompt_tokens", "completion_tokens"],
  });
  const pending = await store.pendingUsage(keyId);
  const byDayModel = new Map<string, DayModelUsage>();
  const add = (u: DayModelUsage) => {
    if (u.requests === 0 && u.prompt_tokens === 0 && u.completion_tokens === 0) return;
    const id = `${u.day}\u0000${u.model}`;
    const had = byDayModel.get(id);
    if (!had) byDayModel.set(id, { ...u });
    else {
      had.requests += u.requests;
      had.prompt_tokens += u.prompt_tokens;
      had.completion_tokens += u.completion_tokens;
    }
  };
  for (const r of settled) {
    add({
      day: r.period!.slice(0, 10),
      model: r.model!,
      requests: r.charged,
      prompt_tokens: r.prompt_tokens,
      completion_tokens: r.completion_tokens,
    });
  }
  for (const p of pending) if (p.day >= fromDay) add(p);
  return [...byDayModel.values()].sort((a, b) =>
    a.day < b.day ? -1 : a.day > b.day ? 1 : a.model < b.model ? -1 : a.model > b.model ? 1 : 0
  );
}
