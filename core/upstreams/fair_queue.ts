/**
 * A queue fair across keys: keys take turns (round-robin), each key's items leave in their order
 * (FIFO), so a key with fifty queued requests delays another key's one by one turn at most.
 * @module
 */

/** Items queued per key, served round-robin over the keys. */
export class FairQueue<T> {
  // Keys in turn order (a Map keeps insertion order); a key leaves once it has no items.
  #byKey = new Map<string, T[]>();
  /** The key whose turn it is; null: the first key's. */
  #turn: string | null = null;
  #size = 0;

  /** How many items are queued. */
  get size(): number {
    return this.#size;
  }

  /** Queues `item` for `key`: last in its line, or first (`front`: it was served once already). */
  push(key: string, item: T, front = false): void {
    const line = this.#byKey.get(key);
    if (line) {
      if (front) line.unshift(item);
      else line.push(item);
    } else {
      this.#byKey.set(key, [item]);
    }
    this.#size++;
  }

  /** Removes `item` of `key`; false when it was not queued. */
  remove(key: string, item: T): boolean {
    const line = this.#byKey.get(key);
    const at = line?.indexOf(item) ?? -1;
    if (!line || at < 0) return false;
    line.splice(at, 1);
    this.#size--;
    if (line.length === 0) this.#dropKey(key);
    return true;
  }

  /**
   * Serves one item: from the key whose turn it is onwards, each key's first item that `accept`
   * takes is removed and returned, and the turn passes to the next key; null when none is taken.
   */
  serve(accept: (item: T) => boolean): T | null {
    const keys = [...this.#byKey.keys()];
    if (keys.length === 0) return null;
    const start = Math.max(0, this.#turn === null ? 0 : keys.indexOf(this.#turn));
    for (let i = 0; i < keys.length; i++) {
      const key = keys[(start + i) % keys.length];
      const line = this.#byKey.get(key)!;
      const at = line.findIndex(accept);
      if (at < 0) continue;
      const [item] = line.splice(at, 1);
      this.#size--;
      this.#turn = keys.length > 1 ? keys[(start + i + 1) % keys.length] : null;
      if (line.length === 0) this.#dropKey(key);
      return item;
    }
    return null;
  }

  #dropKey(key: string): void {
    if (this.#turn === key) {
      const keys = [...this.#byKey.keys()];
      const next = keys[(keys.indexOf(key) + 1) % keys.length];
      this.#turn = next === key ? null : next;
    }
    this.#byKey.delete(key);
  }
}
