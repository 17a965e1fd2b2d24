/**
 * The Proxy info page: base URLs, client snippets, and Open WebUI's settings for each key that
 * tells people apart.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import type { DelegatingKey } from "../views/openwebui_setup.tsx";
import { ProxyPage } from "../views/proxy_page.tsx";
import { hostOfHeader, proxyInfo } from "../core/proxy_info.ts";
import { proxySnippets } from "../core/proxy_snippets.ts";
import { renderPage } from "./render.tsx";
import type { UiEnv } from "./ui_env.ts";

/** Builds GET /proxy (behind the session guard). */
export function createProxyInfoRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  app.get("/proxy", async (c) => {
    const { default_model, public_url } = await deps.settings.get();
    const host = c.req.header("host");
    const info = proxyInfo(deps.config, public_url, host);
    const delegating: DelegatingKey[] = (await deps.store.listKeys()).flatMap((k) =>
      k.delegation
        ? [{
          id: k.id,
          name: k.name,
          prefix: k.prefix,
          identity: k.delegation.identity,
          trusted_peers: k.delegation.trusted_peers,
          headers: k.delegation.headers,
          has_secret: k.delegation.secret !== null,
        }]
        : []
    );
    const page = (
      <ProxyPage
        info={info}
        snippets={proxySnippets(info, default_model)}
        where={{ adminHost: hostOfHeader(host), proxyHost: deps.config.proxyHost }}
        delegating={delegating}
      />
    );
    return renderPage(c, { title: "Proxy info", active: "proxy" }, page);
  });
  return app;
}
