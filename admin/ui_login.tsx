/**
 * Signing in and out of the web UI.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { secretsEqual } from "../core/secrets.ts";
import { LoginPage } from "../views/login_page.tsx";
import { AdminError } from "./errors.ts";
import { loginForm } from "./form_schemas.ts";
import type { LoginThrottle } from "./login_throttle.ts";
import { renderPage } from "./render.tsx";
import { clientAddress } from "./request_info.ts";
import type { SessionStore } from "./sessions.ts";
import {
  clearSessionCookie,
  CSRF_FIELD,
  fromOwnOrigin,
  safeNext,
  sessionIdOf,
  setSessionCookie,
} from "./ui_auth.ts";
import { readForm } from "./ui_forms.ts";

/** What the login routes work with. */
export interface LoginRouteDeps {
  deps: Deps;
  sessions: SessionStore;
  throttle: LoginThrottle;
}

function waitText(seconds: number): string {
  const minutes = Math.ceil(seconds / 60);
  return minutes <= 1 ? "a minute" : `${minutes} minutes`;
}

/** Builds GET/POST /login and POST /logout. */
export function createLoginRoutes({ deps, sessions, throttle }: LoginRouteDeps): Hono {
  const app = new Hono();
  const page = { title: "Sign in" };

  app.get("/login", (c) => {
    if (sessions.touch(sessionIdOf(c))) return c.redirect(safeNext(c.req.query("next")), 303);
    return renderPage(c, page, <LoginPage next={c.req.query("next")} />);
  });

  app.post("/login", async (c) => {
    // No session exists yet to hold a token, so a login from another site is refused by origin.
    if (!fromOwnOrigin(c)) throw new AdminError(403, "This request came from another site");
    const address = clientAddress(c);
    const values = await readForm(c);
    const next = values.next;
    const blocked = throttle.retryAfterSeconds(address);
    if (blocked > 0) {
      c.header("retry-after", String(blocked));
      const error = `Too many wrong passwords. Try again in ${waitText(blocked)}.`;
      return renderPage(c, { ...page, status: 429 }, <LoginPage error={error} next={next} />);
    }
    const parsed = loginForm.safeParse(values);
    if (!parsed.success) {
      const error = parsed.error.issues[0].message;
      return renderPage(c, { ...page, status: 422 }, <LoginPage error={error} next={next} />);
    }
    if (!secretsEqual(parsed.data.password, deps.config.adminPassword)) {
      throttle.recordFailure(address);
      deps.log.warn("admin login failed", { address });
      return renderPage(
        c,
        { ...page, status: 401 },
        <LoginPage error="Wrong password. Please try again." next={next} />,
      );
    }
    throttle.recordSuccess(address);
    // A fresh id at every login, so an id planted before the login is worth nothing after it.
    sessions.destroy(sessionIdOf(c));
    const session = sessions.create();
    setSessionCookie(c, session.id, Math.floor(sessions.idleMs / 1000));
    deps.log.info("admin signed in", { address });
    return c.redirect(safeNext(parsed.data.next), 303);
  });

  app.post("/logout", async (c) => {
    const session = sessions.touch(sessionIdOf(c));
    if (session) {
      // Logging out is state-changing too: another site must not sign the admin out.
      const values = await readForm(c);
      const token = c.req.header("x-csrf-token") ?? values[CSRF_FIELD] ?? "";
      if (!fromOwnOrigin(c) || !secretsEqual(token, session.csrf)) {
        throw new AdminError(403, "This request did not come from this admin page");
      }
      sessions.destroy(session.id);
    }
    clearSessionCookie(c);
    return c.redirect("/login", 303);
  });

  return app;
}
