/**
 * Usage against a limit, drawn as a bar that turns amber near the limit and red at it.
 * @module
 */
import { countOf, formatCount, formatWhole } from "./format.ts";

/** From this share of the limit on, a bar is drawn as "near the limit". */
export const NEAR_SHARE = 0.8;

/** How full a window is: below the near share, near the limit, or at/over it. */
export type UsageLevel = "ok" | "near" | "full";

/** The level of `used` against `limit`. */
export function usageLevel(used: number, limit: number): UsageLevel {
  if (used >= limit) return "full";
  return used >= limit * NEAR_SHARE ? "near" : "ok";
}

/**
 * One labelled bar, e.g. "Requests ▮▮▯ 2 / 3"; unlimited windows show the count alone. `what` is
 * the counted noun in the singular ("request"); `per` ends the spoken text (" this minute").
 */
export function UsageBar(
  { label, what, per = "", used, limit }: {
    label: string;
    what: string;
    per?: string;
    used: number;
    limit: number | null;
  },
) {
  if (limit === null) {
    return (
      <div class="usage unlimited">
        <span class="usage-label">{label}</span>
        <span class="usage-num" title={`${countOf(used, what)}${per}, no limit`}>
          {formatCount(used)} <span class="muted">/ unlimited</span>
        </span>
      </div>
    );
  }
  const level = usageLevel(used, limit);
  // The noun agrees with the limit: "0 of 1 token", "1 of 2 tokens".
  const text = `${formatWhole(used)} of ${countOf(limit, what)}${per}`;
  return (
    <div class={`usage ${level}`}>
      <span class="usage-label">{label}</span>
      <span class="bar" role="img" aria-label={text} title={text}>
        <span class={`fill w${Math.round(Math.min(1, limit ? used / limit : 1) * 20) * 5}`}>
        </span>
      </span>
      <span class="usage-num">
        {formatCount(used)} / {formatCount(limit)}
        {level === "full" && <span class="visually-hidden">(limit reached)</span>}
      </span>
    </div>
  );
}
