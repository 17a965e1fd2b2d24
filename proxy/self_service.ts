/**
 * "How much do I have left?" for key holders: `GET /v1/usage` (and `/api/usage`) on the proxy,
 * authenticated by the key itself. Every limit that applies — the key's, its group's, and for a
 * delegating key the asking person's — with what is used, reserved and left and when it resets,
 * computed the way admission computes the x-ratelimit-* headers; and the last 30 days per model.
 * @module
 */
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { emptySnapshot } from "../core/admission.ts";
import { keyHistory } from "../core/analytics/key_history.ts";
import { MAX_USAGE_ROWS, UsageTooLargeError } from "../core/analytics/usage.ts";
import { kindOf } from "../core/limits.ts";
import { type Owners, scopesFor } from "../core/scopes.ts";
import { requestWindows, resetAt } from "../core/windows.ts";
import { databaseUnavailable, type ProxyEnv } from "./auth.ts";
import { ProxyError } from "./errors.ts";
import { memberOfRequest } from "./identity.ts";

/** Days of history the answer covers. */
const HISTORY_DAYS = 30;

/** Answers the calling key's usage and limits. */
export async function handleSelfService(c: Context<ProxyEnv>, deps: Deps): Promise<Response> {
  const key = c.get("apiKey");
  const now = deps.clock.now();
  const tz = deps.config.timeZone;
  const windows = requestWindows(now, tz);
  const member = await memberOfRequest(c, key, deps);
  try {
    const group = key.group_id === null ? null : await deps.store.getGroup(key.group_id);
    const owners: Owners = { key, group, member };
    const list = [
      { scope: "key" as const, id: key.id },
      ...(group ? [{ scope: "group" as const, id: group.id }] : []),
      ...(member ? [{ scope: "member" as const, id: member.id }] : []),
    ];
    const [snapshots, history] = await Promise.all([
      deps.store.snapshots(list, windows),
      keyHistory(deps.store, key.id, now, tz, HISTORY_DAYS),
    ]);
    const scopes = scopesFor(owners, (s, id) => snapshots.get(`${s}:${id}`) ?? emptySnapshot());
    const limits = scopes.flatMap((s) =>
      s.policy.limits.map((limit) => {
        const kind = kindOf(limit);
        const c = limit.window === "none" ? null : s.snapshot[limit.window];
        const used = limit.metric === "concurrent"
          ? s.snapshot.inFlight
          : limit.metric === "requests"
          ? c!.requests
          : c!.tokens;
        const reserved = limit.metric === "tokens" ? c!.reserved : 0;
        return {
          scope: s.scope,
          ...(s.scope === "key" ? {} : { name: s.name }),
          limit: kind.field,
          metric: limit.metric,
          window: limit.window,
          max: limit.max,
          used,
          reserved,
          remaining: Math.max(0, limit.max - used - reserved),
          resets_at: limit.window === "none"
            ? null
            : resetAt(windows, limit.window).toZonedDateTimeISO(tz).toString({
              timeZoneName: "never",
            }),
        };
      })
    );
    return c.json({
      key: { name: key.name, prefix: key.prefix, expires_at: key.expires_at },
      time_zone: tz,
      limits,
      models: key.policy.models,
      days: history,
    });
  } catch (err) {
    if (err instanceof UsageTooLargeError) {
      // The key's own doing (a model name each, many refused): bounded, said so, not a 503.
      throw new ProxyError(
        422,
        `More than ${MAX_USAGE_ROWS} day and model rows in the last ${HISTORY_DAYS} days: too many to list`,
        "usage_too_large",
      );
    }
    throw databaseUnavailable(deps, err);
  }
}
