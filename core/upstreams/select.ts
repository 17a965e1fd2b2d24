/**
 * Choosing a box for a request for model M, from what is known about each box:
 * 1. Eligible: enabled, not tried yet for this request, lists M (Ollama's name rules). A box
 *    whose tags are not known yet stands in when no box lists M. Only ejected boxes list M:
 *    `down`; none does: `unknown_model`.
 * 2. The conversation's pinned box, while it has room.
 * 3. Boxes that have M loaded with a large enough context (no reload), then the others.
 * 4. The lowest in-flight / capacity; ties broken at random.
 * 5. No eligible box has room: `full` (the request waits in the queue).
 * @module
 */

/** What selection needs to know about one box. */
export interface BoxView {
  id: string;
  enabled: boolean;
  /** Not ejected (a box on trial counts as open; its one trial is its room). */
  open: boolean;
  /** Until when it is ejected (ms), or null. */
  ejectedUntil: number | null;
  /** Whether it lists the model; null while its tags are unknown. */
  lists: boolean | null;
  /** The loaded runner's context for the model: a number, null (loaded, size unknown) or undefined (not loaded). */
  loadedContext: number | null | undefined;
  inFlight: number;
  /** How many requests it may run now; null: no limit. */
  capacity: number | null;
}

/** What the request asks for. */
export interface Wanted {
  /** The context the request runs with, when known (native routes with `num_ctx`). */
  numCtx: number | null;
  /** The box the conversation is pinned to, if any. */
  pinned: string | null;
  /** Boxes already tried for this request. */
  exclude: ReadonlySet<string>;
}

/** How the conversation's pin was used. */
export type StickyUse = "hit" | "miss" | "repin" | null;

/** The outcome of selection. */
export type Choice =
  | { kind: "box"; id: string; sticky: StickyUse }
  /** Eligible boxes exist but none has room now. */
  | { kind: "full" }
  /** Every box that lists the model is ejected; the first comes back at `until`. */
  | { kind: "down"; until: number }
  /** No box lists the model. */
  | { kind: "unknown_model" }
  /** Every eligible box was tried for this request. */
  | { kind: "exhausted" }
  /** No box is enabled. */
  | { kind: "none" };

/** Whether a box may take one more request now. */
export function hasRoom(v: BoxView): boolean {
  return v.open && (v.capacity === null || v.inFlight < v.capacity);
}

/** Chooses a box (see the module comment); `random` returns a number in [0, 1). */
export function chooseBox(
  views: ReadonlyArray<BoxView>,
  wanted: Wanted,
  random: () => number,
): Choice {
  const enabled = views.filter((v) => v.enabled);
  if (enabled.length === 0) return { kind: "none" };
  const untried = enabled.filter((v) => !wanted.exclude.has(v.id));
  if (untried.length === 0) return { kind: "exhausted" };
  let eligible = untried.filter((v) => v.lists === true);
  if (eligible.length === 0) {
    // No untried box lists the model; one whose tags are unknown yet may have it.
    eligible = untried.filter((v) => v.lists === null);
    if (eligible.length === 0) {
      return enabled.some((v) => v.lists === true)
        ? { kind: "exhausted" }
        : { kind: "unknown_model" };
    }
  }
  const open = eligible.filter((v) => v.open);
  if (open.length === 0) {
    return { kind: "down", until: Math.min(...eligible.map((v) => v.ejectedUntil ?? Infinity)) };
  }
  const room = open.filter(hasRoom);
  if (room.length === 0) return { kind: "full" };
  if (wanted.pinned !== null) {
    const pinned = room.find((v) => v.id === wanted.pinned);
    if (pinned) return { kind: "box", id: pinned.id, sticky: "hit" };
  }
  const fits = room.filter((v) =>
    v.loadedContext !== undefined &&
    (wanted.numCtx === null || v.loadedContext === null || v.loadedContext >= wanted.numCtx)
  );
  const id = leastLoaded(fits.length > 0 ? fits : room, random);
  const sticky = wanted.pinned === null ? "miss" : "repin";
  return { kind: "box", id, sticky };
}

/** The box with the lowest in-flight / capacity; ties broken by `random`. */
function leastLoaded(views: ReadonlyArray<BoxView>, random: () => number): string {
  const load = (v: BoxView) => v.inFlight / (v.capacity ?? 1);
  const lowest = Math.min(...views.map(load));
  const tied = views.filter((v) => load(v) === lowest);
  return tied[Math.min(tied.length - 1, Math.floor(random() * tied.length))].id;
}
