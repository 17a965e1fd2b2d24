/**
 * A key's idle clock as the Keys table shows it: since when an idle key has stopped working, or,
 * a week ahead, the day an unused key will.
 * @module
 */
import { idleAtMs, type KeyView } from "../core/api_keys.ts";
import { countOf, formatDate } from "./format.ts";
import type { ViewContext } from "./view_context.ts";

/** How far ahead a key about to go idle is pointed out. */
export const IDLE_WARNING_DAYS = 7;

const DAY_MS = 24 * 60 * 60 * 1000;

/** What the table says about a key's idle clock; null: nothing (no clock, or far from idle). */
export type IdleState =
  | { kind: "idle"; since: string; unusedDays: number; idleDays: number }
  | { kind: "soon"; on: string; idleDays: number }
  | null;

/** The local date (yyyy-mm-dd in `timeZone`) of an instant in ms. */
function localDate(ms: number, timeZone: string): string {
  return Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(timeZone).toPlainDate()
    .toString();
}

/** A key's idle clock at `ctx.now`. */
export function idleState(ctx: ViewContext, k: KeyView): IdleState {
  const idleAt = idleAtMs({ ...k, policy: { idle_days: k.idle_days } });
  if (idleAt === null || k.idle_days === null) return null;
  const nowMs = ctx.now.epochMilliseconds;
  if (k.status === "idle") {
    // The clock started at the key's last use (or creation, or activation).
    const unusedDays = Math.floor((nowMs - (idleAt - k.idle_days * DAY_MS)) / DAY_MS);
    const since = localDate(idleAt, ctx.timeZone);
    return { kind: "idle", since, unusedDays, idleDays: k.idle_days };
  }
  if (k.status !== "active" || idleAt - nowMs > IDLE_WARNING_DAYS * DAY_MS) return null;
  return { kind: "soon", on: localDate(idleAt, ctx.timeZone), idleDays: k.idle_days };
}

/** "Idle since …, unused for N days", or "Goes idle on …". */
export function IdleNote({ state }: { state: Exclude<IdleState, null> }) {
  if (state.kind === "idle") {
    return (
      <span
        class="idle-note idle"
        title={`Unused for longer than ${
          countOf(state.idleDays, "day")
        }: requests are refused. Reactivate it to restart the clock.`}
      >
        <span>Idle since {formatDate(state.since)},</span>{" "}
        <span>unused for {countOf(state.unusedDays, "day")}</span>
      </span>
    );
  }
  return (
    <span
      class="idle-note soon"
      title={`A key unused for ${
        countOf(state.idleDays, "day")
      } stops working; one request restarts the clock.`}
    >
      Goes idle on {formatDate(state.on)}
    </span>
  );
}
