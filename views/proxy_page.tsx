/**
 * The Proxy info page: where clients connect, and snippets to copy.
 * @module
 */
import type { ProxyInfo } from "../admin/proxy_info.ts";
import { KEY_VARIABLE, type Snippet } from "../admin/proxy_snippets.ts";
import { CopyButton, PageHeader } from "./parts.tsx";

/** The whole Proxy info page content. */
export function ProxyPage({ info, snippets }: { info: ProxyInfo; snippets: Snippet[] }) {
  return (
    <>
      <PageHeader title="Proxy info">
        Point clients at the proxy instead of Ollama, with an API key from the Keys page as the
        bearer token.
      </PageHeader>
      <section class="card" aria-labelledby="base-urls-title">
        <h2 id="base-urls-title">Base URLs</h2>
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
