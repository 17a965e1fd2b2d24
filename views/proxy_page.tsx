/**
 * The Proxy info page: where clients connect, and snippets to copy.
 * @module
 */
import { isWildcard } from "../core/loopback.ts";
import type { ProxyInfo } from "../core/proxy_info.ts";
import { KEY_VARIABLE, type Snippet } from "../core/proxy_snippets.ts";
import { type DelegatingKey, OpenWebUiSection } from "./openwebui_setup.tsx";
import { CopyButton, Notice, PageHeader } from "./parts.tsx";

/** What the page says about the address besides the URLs: how it was reached and bound. */
export interface ProxyWhere {
  /** The host name this admin page was opened with ("" when the request named none). */
  adminHost: string;
  /** PROXY_HOST, the proxy's listen address. */
  proxyHost: string;
}

const SETTINGS_LINK = <a href="/settings#public_url">Public URL in Settings</a>;

/** Which address the URLs use and why, and how to change it. */
function UrlSource({ info, where }: { info: ProxyInfo; where: ProxyWhere }) {
  const port = new URL(info.ollama_base_url).port;
  switch (info.source) {
    case "setting":
      return (
        <p class="url-source" id="url-source">
          This is the {SETTINGS_LINK}; change it there.
        </p>
      );
    case "environment":
      return (
        <p class="url-source" id="url-source">
          This is <code>PUBLIC_URL</code> from the gateway's environment. A {SETTINGS_LINK}{" "}
          takes precedence over it.
        </p>
      );
    case "proxy_host":
      return (
        <p class="url-source" id="url-source">
          No public URL is set, so this is the proxy's listen address (<code>
            PROXY_HOST={where.proxyHost}
          </code>) and port{" "}
          {port}. If clients reach the proxy by another name or through a reverse proxy, set that
          address as the {SETTINGS_LINK}.
        </p>
      );
    case "admin_host":
      return (
        <p class="url-source" id="url-source">
          No public URL is set, so this is the host name you opened this page with (<code>
            {where.adminHost}
          </code>) and the proxy's port{" "}
          {port}. If clients reach the proxy by another address (another name, a reverse proxy,
          https), set it as the {SETTINGS_LINK}.
        </p>
      );
    case "loopback":
      return (
        <div class="url-source" id="url-source">
          <Notice kind="warning">
            <strong>This address works only on the gateway's own machine.</strong>{" "}
            {isWildcard(where.proxyHost)
              ? (
                <>
                  No public URL is set, and you opened this page through a loopback address
                  {where.adminHost && (
                    <>
                      {" "}(<code>{where.adminHost}</code>)
                    </>
                  )}, which other machines cannot use. For teammates on other machines, set the{" "}
                  {SETTINGS_LINK}, e.g. <code>http://gpu-box:{port}</code> with this machine's name.
                </>
              )
              : (
                <>
                  The proxy listens on <code>PROXY_HOST={where.proxyHost}</code>{" "}
                  only. To serve other machines, restart it with <code>PROXY_HOST=0.0.0.0</code>
                  {" "}
                  and set the {SETTINGS_LINK}.
                </>
              )}
          </Notice>
        </div>
      );
  }
}

/** The whole Proxy info page content. */
export function ProxyPage(
  { info, snippets, where, delegating }: {
    info: ProxyInfo;
    snippets: Snippet[];
    where: ProxyWhere;
    /** Keys that tell the people behind Open WebUI apart. */
    delegating: DelegatingKey[];
  },
) {
  return (
    <>
      <PageHeader title="Proxy info">
        Point clients at the proxy instead of Ollama, with an API key from the Keys page as the
        bearer token.
      </PageHeader>
      <section class="card" aria-labelledby="base-urls-title">
        <h2 id="base-urls-title">Base URLs</h2>
        <UrlSource info={info} where={where} />
        <dl class="urls">
          <div>
            <dt>Ollama clients</dt>
            <dd>
              <code id="url-ollama">{info.ollama_base_url}</code>
              <CopyButton target="url-ollama" label="Copy URL" />
            </dd>
          </div>
          <div>
            <dt>OpenAI clients</dt>
            <dd>
              <code id="url-openai">{info.openai_base_url}</code>
              <CopyButton target="url-openai" label="Copy URL" />
            </dd>
          </div>
        </dl>
        <p class="hint">
          The snippets read the key from <code>{KEY_VARIABLE}</code>: run{" "}
          <code>export {KEY_VARIABLE}=sk-…</code> first.
        </p>
      </section>
      <OpenWebUiSection keys={delegating} info={info} />
      <div class="snippets">
        {snippets.map((s) => (
          <section class="card snippet" aria-labelledby={`${s.id}-title`}>
            <div class="card-head">
              <h2 id={`${s.id}-title`}>{s.title}</h2>
              <CopyButton target={s.id} label="Copy" />
            </div>
            <pre><code id={s.id}>{s.code}</code></pre>
          </section>
        ))}
      </div>
    </>
  );
}
