/**
 * The Proxy info page: base URLs and client snippets.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { ProxyPage } from "../views/proxy_page.tsx";
import { proxyInfo } from "./proxy_info.ts";
import { proxySnippets } from "./proxy_snippets.ts";
import { renderPage } from "./render.tsx";
import type { UiEnv } from "./ui_env.ts";

/** Builds GET /proxy (behind the session guard). */
export function createProxyInfoRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  app.get("/proxy", async (c) => {
    const info = proxyInfo(deps.config, c.req.header("host"));
    const { default_model } = await deps.settings.get();
    const page = <ProxyPage info={info} snippets={proxySnippets(info, default_model)} />;
    return renderPage(c, { title: "Proxy info", active: "proxy" }, page);
  });
  return app;
}
