/**
 * Signing in to a running admin listener's web UI, for tests that need a session.
 * @module
 */
import { ADMIN_PASSWORD } from "../support/gateway.ts";

/** A signed-in browser: the session cookie and the session's CSRF token. */
export interface AdminSession {
  /** `llmq_session=…`, for a Cookie header. */
  cookie: string;
  csrf: string;
}

/** Signs in with the admin password and reads the CSRF token off the keys page. */
export async function signIn(adminUrl: string, password = ADMIN_PASSWORD): Promise<AdminSession> {
  const login = await fetch(`${adminUrl}/login`, {
    method: "POST",
    body: new URLSearchParams({ password }),
    redirect: "manual",
  });
  await login.body?.cancel();
  const session = /llmq_session=([^;]+)/.exec(login.headers.get("set-cookie") ?? "")?.[1];
  if (login.status !== 303 || !session) throw new Error(`signIn: ${login.status}`);
  const cookie = `llmq_session=${session}`;
  const page = await fetch(`${adminUrl}/keys`, { headers: { cookie } });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  if (!csrf) throw new Error("signIn: no CSRF token on the keys page");
  return { cookie, csrf };
}
