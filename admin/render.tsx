/**
 * Turning views into responses: a whole page inside the layout, or a bare fragment for htmx.
 * @module
 */
import type { Context } from "hono";
import { html } from "hono/html";
import type { Child } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Deps } from "../deps.ts";
import { Layout, type NavItem } from "../views/layout.tsx";
import type { ViewContext } from "../views/view_context.ts";
import type { Session } from "./sessions.ts";
import type { UiEnv } from "./ui_env.ts";

/** How a page is framed. */
export interface PageOptions {
  title: string;
  active?: NavItem;
  status?: ContentfulStatusCode;
}

/** The session of the request, when someone is signed in. */
export function currentSession(c: Context): Session | undefined {
  return (c as Context<UiEnv>).get("session") as Session | undefined;
}

/** Responds with a whole HTML document: the layout around `body`. */
export function renderPage(c: Context, options: PageOptions, body: Child) {
  const page = (
    <Layout title={options.title} active={options.active} csrf={currentSession(c)?.csrf}>
      {body}
    </Layout>
  );
  return c.html(html`<!doctype html>${page}`, options.status ?? 200);
}

/** Responds with a fragment of a page, for htmx to swap in. */
export function renderFragment(c: Context, fragment: Child, status?: ContentfulStatusCode) {
  return c.html(<>{fragment}</>, status ?? 200);
}

/** The facts every signed-in view needs. */
export function viewContext(c: Context<UiEnv>, deps: Deps): ViewContext {
  return { csrf: c.get("session").csrf, timeZone: deps.config.timeZone, now: deps.clock.now() };
}
