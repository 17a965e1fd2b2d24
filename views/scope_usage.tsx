/**
 * The usage of an owner of limits other than a key (a group, a person behind a delegating key):
 * one bar per day or month limit kind of core/limits.ts LIMIT_KINDS, and the per-minute and
 * concurrency limits as words (the store counts those live per key only).
 * @module
 */
import { LIMIT_KINDS, type LimitField } from "../core/limits.ts";
import type { KeyUsage } from "../core/model.ts";
import { formatWhole } from "./format.ts";
import { KindBar, settledUsedOf } from "./key_usage.tsx";

/** Limits as flat fields; a field that is absent or null is no limit. */
export type LimitValues = Partial<Record<LimitField, number | null>>;

/** The bars of one period, every kind of it shown (an unlimited one with its count alone). */
export function PeriodBars(
  { window, limits, usage }: { window: "day" | "month"; limits: LimitValues; usage: KeyUsage },
) {
  return (
    <>
      {LIMIT_KINDS.filter((kind) => kind.window === window).map((kind) => (
        <KindBar
          kind={kind}
          used={settledUsedOf(kind, usage)!}
          limit={limits[kind.field] ?? null}
        />
      ))}
    </>
  );
}

/** The per-minute and at-a-time limits that are set, as "20 requests per minute"; none: []. */
export function rateLimitTexts(limits: LimitValues): string[] {
  return LIMIT_KINDS.filter((kind) =>
    (kind.window === "minute" || kind.window === "none") && (limits[kind.field] ?? null) !== null
  ).map((kind) => `${formatWhole(limits[kind.field]!)} ${kind.unit}`);
}
