/**
 * Admin sessions of the web UI, kept in memory: a restart (or a second admin instance) does not
 * know them, so admins sign in again. The cookie carries only a random id, never the password.
 * @module
 */
import type { Clock } from "../core/clock.ts";
import { randomToken } from "../core/base64url.ts";

/** How long a session lives without a request (milliseconds). */
export const SESSION_IDLE_MS = 30 * 60 * 1000;

/** A signed-in admin's session. */
export interface Session {
  id: string;
  /** The token every state-changing request of this session must echo (CSRF protection). */
  csrf: string;
  lastSeenMs: number;
}

/** Options for a session store. */
export interface SessionStoreOptions {
  idleMs?: number;
}

/** Sessions by id, each ending after `idleMs` without use. */
export class SessionStore {
  #sessions = new Map<string, Session>();
  #clock: Clock;
  readonly idleMs: number;

  constructor(clock: Clock, { idleMs = SESSION_IDLE_MS }: SessionStoreOptions = {}) {
    this.#clock = clock;
    this.idleMs = idleMs;
  }

  #nowMs(): number {
    return this.#clock.now().epochMilliseconds;
  }

  /** Starts a new session with fresh id and CSRF token. */
  create(): Session {
    this.#prune();
    const session = { id: randomToken(), csrf: randomToken(), lastSeenMs: this.#nowMs() };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id, its idle timer restarted; null when unknown or expired. */
  touch(id: string | undefined): Session | null {
    if (!id) return null;
    const session = this.#sessions.get(id);
    if (!session) return null;
    const now = this.#nowMs();
    if (now - session.lastSeenMs >= this.idleMs) {
      this.#sessions.delete(id);
      return null;
    }
    session.lastSeenMs = now;
    return session;
  }

  /** Ends a session (logout). */
  destroy(id: string | undefined): void {
    if (id) this.#sessions.delete(id);
  }

  // Expired sessions are dropped when a new one starts, so the map cannot grow without bound.
  #prune(): void {
    const now = this.#nowMs();
    for (const [id, s] of this.#sessions) {
      if (now - s.lastSeenMs >= this.idleMs) this.#sessions.delete(id);
    }
  }
}
