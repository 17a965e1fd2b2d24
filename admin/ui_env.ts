/**
 * The Hono environment of the admin UI's routes.
 * @module
 */
import type { Session } from "./sessions.ts";

/** Variables the UI's middleware puts on the context. */
export interface UiEnv {
  Variables: {
    /** The signed-in admin's session; set by requireSession on every page behind the login. */
    session: Session;
  };
}
