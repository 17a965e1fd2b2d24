/**
 * Signing in and out of the web UI.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { secretsEqual } from "../core/secrets.ts";
import type { CredentialGuard } from "./credential_guard.ts";
import { LoginPage } from "../views/login_page.tsx";
import { AdminError } from "./errors.ts";
import { loginForm } from "./form_schemas.ts";
import { renderPage } from "./render.tsx";
import { clientAddress } from "./request_info.ts";
import type { SessionStore } from "./sessions.ts";
import {
  clearSessionCookie,
  CSRF_FIELD,
  deviceIdOf,
  fromOwnOrigin,
  safeNext,
  sessionIdOf,
  setDeviceCookie,
  setSessionCookie,
} from "./ui_auth.ts";
import { readForm } from "./ui_forms.ts";

/** What the login routes work with. */
export interface LoginRouteDeps {
  deps: Deps;
  sessions: SessionStore;
  /** Throttles wrong passwords together with the API's and /metrics' checks. */
  guard: CredentialGuard;
}

function waitText(seconds: number): string {
  if (seconds < 60) return seconds === 1 ? "a second" : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? "a minute" : `${minutes} minutes`;
}

/** Builds GET/POST /login and POST /logout. */
export function createLoginRoutes({ deps, sessions, guard }: LoginRouteDeps): Hono {
  const app = new Hono();
  const page = { title: "Sign in" };

  app.get("/login", (c) => {
    if (sessions.touch(sessionIdOf(c))) return c.redirect(safeNext(c.req.query("next")), 303);
    return renderPage(c, page, <LoginPage next={c.req.query("next")} />);
  });

  app.post("/login", async (c) => {
    // No session exists yet to hold a token, so a login from another site is refused by origin.
    if (!fromOwnOrigin(c)) throw new AdminError(403, "This request came from another site");
    const values = await readForm(c);
    const next = values.next;
    const parsed = loginForm.safeParse(values);
    if (!parsed.success) {
      const error = parsed.error.issues[0].message;
      return renderPage(c, { ...page, status: 422 }, <LoginPage error={error} next={next} />);
    }
    const address = clientAddress(c);
    const device = deviceIdOf(c);
    const verdict = guard.check({
      given: parsed.data.password,
      secrets: [deps.config.adminPassword],
      source: "login",
      address,
      device,
    });
    if (verdict.kind === "throttled") {
      c.header("retry-after", String(verdict.retryAfterSeconds));
      const error = `Too many wrong passwords were tried lately. Try again in ${
        waitText(verdict.retryAfterSeconds)
      }.`;
      return renderPage(c, { ...page, status: 429 }, <LoginPage error={error} next={next} />);
    }
    if (verdict.kind === "wrong") {
      return renderPage(
        c,
        { ...page, status: 401 },
        <LoginPage error="Wrong password. Please try again." next={next} />,
      );
    }
    // A fresh id at every login, so an id planted before the login is worth nothing after it.
    sessions.destroy(sessionIdOf(c));
    const session = sessions.create();
    setSessionCookie(c, session.id, Math.floor(sessions.idleMs / 1000));
    // This browser may sign in again while guessers elsewhere are throttled.
    setDeviceCookie(c, guard.trustDevice(device));
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
