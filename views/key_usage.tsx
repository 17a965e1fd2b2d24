/**
 * A key's usage against its limits as the Keys table shows it: one column per time frame (today,
 * this month, now), each one bar per limit kind of core/limits.ts LIMIT_KINDS in that frame.
 * @module
 */
import type { KeyView } from "../core/api_keys.ts";
import type { KeyUsage } from "../core/model.ts";
import { LIMIT_KINDS, type LimitKind } from "../core/limits.ts";
import type { Metric, Window } from "../core/model.ts";
import type { LiveUsage } from "../core/store.ts";
import type { GroupChoice } from "./group_field.tsx";
import { UsageBar } from "./usage_bar.tsx";

/** A key as the Keys table shows it: its view, what it uses right now, and its group's name. */
export type KeyRow = KeyView & { live: LiveUsage; group?: GroupChoice | null };

/** Live usage of a key with nothing in flight and nothing this minute. */
export const NO_LIVE_USAGE: LiveUsage = { inFlight: 0, minuteRequests: 0, minuteTokens: 0 };

/** A column of the table: its heading, the windows it shows, and whether unlimited ones show. */
export interface UsageColumn {
  /** Names its cells' class, `usage-<id>`. */
  id: string;
  label: string;
  windows: Window[];
  /** Shows the count of a kind without a limit too (the day and month, always of interest). */
  unlimitedToo: boolean;
}

/** The usage columns, left to right. */
export const USAGE_COLUMNS: UsageColumn[] = [
  { id: "today", label: "Today", windows: ["day"], unlimitedToo: true },
  { id: "month", label: "This month", windows: ["month"], unlimitedToo: true },
  { id: "now", label: "Now", windows: ["minute", "none"], unlimitedToo: false },
];

/** What a kind counts, as a bar's label and noun. */
const COUNTED: Record<Metric, { noun: string; label: string }> = {
  requests: { noun: "request", label: "Requests" },
  tokens: { noun: "token", label: "Tokens" },
  concurrent: { noun: "request", label: "Running" },
};

/** How a bar's text goes on after "3 of 10 requests", by window. */
const WINDOW_TEXT: Record<Window, { label: string; text: string }> = {
  day: { label: "", text: "" },
  month: { label: "", text: "" },
  minute: { label: "/min", text: " this minute" },
  none: { label: "", text: " running now" },
};

/** What an owner (key, group, member) has used of a day or month kind; null for other windows. */
export function settledUsedOf(kind: LimitKind, usage: KeyUsage): number | null {
  switch (kind.window) {
    case "day":
      return kind.metric === "requests" ? usage.today.requests : usage.today.tokens;
    case "month":
      return kind.metric === "requests" ? usage.month.requests : usage.month.tokens;
    default:
      return null;
  }
}

/** What a key has used of one limit kind, in that kind's current window. */
export function usedOf(kind: LimitKind, k: KeyRow): number {
  switch (kind.window) {
    case "day":
    case "month":
      return settledUsedOf(kind, k.usage)!;
    case "minute":
      return kind.metric === "requests" ? k.live.minuteRequests : k.live.minuteTokens;
    case "none":
      return k.live.inFlight;
  }
}

/** The bars of one column for one key; a column with nothing to show says so. */
export function UsageCell({ column, keyRow: k }: { column: UsageColumn; keyRow: KeyRow }) {
  const kinds = LIMIT_KINDS.filter((kind) =>
    column.windows.includes(kind.window) && (column.unlimitedToo || k[kind.field] !== null)
  );
  const bars = kinds.map((kind) => (
    <KindBar kind={kind} used={usedOf(kind, k)} limit={k[kind.field]} />
  ));
  return (
    <td
      class={`usage-cell usage-${column.id}${kinds.length === 0 ? " none" : ""}`}
      data-label={column.label}
    >
      {kinds.length === 0 ? <span class="muted">No rate limits</span> : bars}
    </td>
  );
}

/** The bar of one limit kind: what was used against its limit (null: unlimited). */
export function KindBar(
  { kind, used, limit }: { kind: LimitKind; used: number; limit: number | null },
) {
  return (
    <UsageBar
      label={COUNTED[kind.metric].label + WINDOW_TEXT[kind.window].label}
      what={COUNTED[kind.metric].noun}
      per={WINDOW_TEXT[kind.window].text}
      used={used}
      limit={limit}
    />
  );
}
