/**
 * Conversation pins: the box a conversation last went to, so its next turn goes there again and
 * Ollama reuses the cached prompt. A pin belongs to one key (two keys never share one, even with
 * the same chat id), slides while it is used, and the oldest go first when there are too many.
 * @module
 */
import { canonicalModel } from "../model_names.ts";

/** How long an unused pin lasts (ms). */
export const PIN_TTL_MS = 10 * 60_000;
/** How many pins are kept at most. */
export const MAX_PINS = 50_000;
/** Longer conversation ids are not pinned (they would only cost memory). */
const MAX_CONVERSATION_LENGTH = 256;

/** The pin of a conversation: scoped to the key and the model; null when there is none. */
export function pinKey(key: string, model: string, conversation: string | null): string | null {
  if (conversation === null || conversation === "") return null;
  if (conversation.length > MAX_CONVERSATION_LENGTH) return null;
  return `${key}\u0000${canonicalModel(model)}\u0000${conversation}`;
}

/** Conversation pins with a sliding expiry and a size cap. */
export class StickyPins {
  // A Map iterates in insertion order: re-inserting on use keeps the oldest first.
  #pins = new Map<string, { box: string; at: number }>();

  constructor(readonly ttlMs = PIN_TTL_MS, readonly max = MAX_PINS) {}

  /** The pinned box, or null when there is no live pin. */
  get(pin: string, now: number): string | null {
    const found = this.#pins.get(pin);
    if (!found) return null;
    if (now - found.at >= this.ttlMs) {
      this.#pins.delete(pin);
      return null;
    }
    return found.box;
  }

  /** Pins (or re-pins) a conversation to `box`. */
  set(pin: string, box: string, now: number): void {
    this.#pins.delete(pin);
    this.#pins.set(pin, { box, at: now });
    while (this.#pins.size > this.max) {
      this.#pins.delete(this.#pins.keys().next().value!);
    }
  }

  /** How many pins are kept. */
  get size(): number {
    return this.#pins.size;
  }
}
