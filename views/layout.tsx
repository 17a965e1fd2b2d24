/**
 * The page frame every admin page shares: head, top bar with navigation, flash area.
 * @module
 */
import type { Child } from "hono/jsx";
import { assetUrl } from "./static_assets.ts";
import { CsrfField } from "./parts.tsx";

/** A page of the navigation. */
export type NavItem = "keys" | "groups" | "settings" | "models" | "proxy";

const NAV: Array<[NavItem, string, string]> = [
  ["keys", "/keys", "Keys"],
  ["groups", "/groups", "Groups"],
  ["settings", "/settings", "Settings"],
  ["models", "/models", "Models"],
  ["proxy", "/proxy", "Proxy info"],
];

/**
 * htmx settings for a strict CSP: no eval, no inline scripts or styles (indicator styles live in
 * admin.css, and `style` is not settled: htmx would copy a leftover empty style attribute with
 * setAttribute, which the CSP blocks); 422 answers carry a form with errors and are swapped in;
 * other errors are swapped where the server retargets them (the flash area). History restores ask
 * for the whole page.
 */
const HTMX_CONFIG = JSON.stringify({
  allowEval: false,
  allowScriptTags: false,
  includeIndicatorStyles: false,
  attributesToSettle: ["class", "width", "height"],
  historyRestoreAsHxRequest: false,
  reportValidityOfForms: true,
  responseHandling: [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "422", swap: true },
    { code: "[45]..", swap: true, error: true },
  ],
});

/** What the frame needs besides the page's content. */
export interface LayoutProps {
  title: string;
  /** The highlighted navigation entry; none on pages outside the navigation. */
  active?: NavItem;
  /** The session's CSRF token; absent when nobody is signed in (no navigation then). */
  csrf?: string;
  children?: Child;
}

/** The full HTML document around a page's content. */
export function Layout({ title, active, csrf, children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content={HTMX_CONFIG} />
        <meta name="referrer" content="same-origin" />
        <title>{title} · llm-quota</title>
        <link rel="icon" type="image/svg+xml" href={assetUrl("icon.svg")} />
        <link rel="stylesheet" href={assetUrl("admin.css")} />
        <script src={assetUrl("htmx.min.js")} defer></script>
        <script src={assetUrl("admin.js")} defer></script>
      </head>
      <body hx-headers={csrf ? JSON.stringify({ "X-CSRF-Token": csrf }) : undefined}>
        <a class="skip-link" href="#main">Skip to content</a>
        <header class="topbar">
          <a class="brand" href="/keys">
            <img src={assetUrl("icon.svg")} alt="" width="24" height="24" />
            <span>llm-quota</span>
          </a>
          {csrf && (
            <nav aria-label="Main">
              <ul>
                {NAV.map(([item, href, label]) => (
                  <li>
                    <a href={href} aria-current={item === active ? "page" : undefined}>{label}</a>
                  </li>
                ))}
              </ul>
            </nav>
          )}
          {csrf && (
            <form class="signout" method="post" action="/logout">
              <CsrfField token={csrf} />
              <button type="submit" class="btn ghost small">Sign out</button>
            </form>
          )}
        </header>
        <main id="main" tabindex={-1}>
          <div id="flash" aria-live="polite"></div>
          {children}
        </main>
      </body>
    </html>
  );
}
