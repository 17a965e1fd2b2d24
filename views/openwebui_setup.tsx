/**
 * The Proxy info page's part for keys that tell the people behind Open WebUI apart: what to set
 * in Open WebUI for each, and the warning that plain headers believe anyone who holds the key.
 * @module
 */
import type { ProxyInfo } from "../core/proxy_info.ts";
import { type IdentityHeaders, type IdentityMode, OPENWEBUI_HEADERS } from "../core/model.ts";
import { HEADER_SETTINGS } from "./delegation_form.tsx";
import { CopyButton, Notice } from "./parts.tsx";

/** A key that tells people apart, as this page needs it (never its secret). */
export interface DelegatingKey {
  id: number;
  name: string;
  prefix: string;
  identity: IdentityMode;
  trusted_peers: string[];
  headers: IdentityHeaders;
  has_secret: boolean;
}

/** The headers each mode reads (a renamed one needs the same name in Open WebUI). */
const READS: Record<IdentityMode, Array<keyof IdentityHeaders>> = {
  "openwebui-jwt": ["jwt"],
  "openwebui-headers": ["user_id", "email", "name", "role"],
};

/** Open WebUI's environment for a delegating key, as lines to copy into its configuration. */
export function openWebUiEnv(key: DelegatingKey, info: ProxyInfo): string {
  const lines = [
    `# Open WebUI, for the key “${key.name}”`,
    "ENABLE_FORWARD_USER_INFO_HEADERS=true",
  ];
  if (key.identity === "openwebui-jwt") {
    lines.push("FORWARD_USER_INFO_HEADER_JWT_SECRET=<the secret entered on the key's page>");
  }
  for (const h of HEADER_SETTINGS) {
    if (!READS[key.identity].includes(h.name)) continue;
    if (key.headers[h.name] !== OPENWEBUI_HEADERS[h.name]) {
      lines.push(`${h.env}=${key.headers[h.name]}`);
    }
  }
  lines.push(
    `OPENAI_API_BASE_URL=${info.openai_base_url}`,
    `OPENAI_API_KEY=<the key ${key.prefix}…, shown once when it was created>`,
  );
  return lines.join("\n");
}

/** The Open WebUI part of the Proxy info page: one card per delegating key, or how to start. */
export function OpenWebUiSection({ keys, info }: { keys: DelegatingKey[]; info: ProxyInfo }) {
  if (keys.length === 0) {
    return (
      <section id="openwebui" class="card" aria-labelledby="openwebui-title">
        <h2 id="openwebui-title">Open WebUI with a quota per person</h2>
        <p>
          Open WebUI usually reaches the gateway with one key for everybody, so the key's quota is
          everybody's. On a{" "}
          <a href="/keys">key's page</a>, let the key tell people apart: each person then gets a
          quota of their own, and this page shows what to set in Open WebUI.
        </p>
      </section>
    );
  }
  // Hono renders to a string once: a key would only be printed as an attribute.
  // deno-lint-ignore jsx-key
  return <>{keys.map((k) => <OpenWebUiCard delegating={k} info={info} />)}</>;
}

/** What to set in Open WebUI for one delegating key. */
function OpenWebUiCard(
  { delegating: key, info }: { delegating: DelegatingKey; info: ProxyInfo },
) {
  const id = `openwebui-key-${key.id}`;
  const jwt = key.identity === "openwebui-jwt";
  const peers = key.trusted_peers.join(", ");
  return (
    <section id={id} class="card openwebui" aria-labelledby={`${id}-title`}>
      <div class="card-head">
        <h2 id={`${id}-title`}>Open WebUI for “{key.name}”</h2>
        <CopyButton target={`${id}-env`} label="Copy settings" />
      </div>
      <p>
        The key tells people apart by{" "}
        {jwt ? "Open WebUI's signed token" : "Open WebUI's plain headers"}, and each person gets the
        limits set on{" "}
        <a href={`/keys/${key.id}#delegation`}>the key's page</a>. Set these in Open WebUI's
        environment and restart it:
      </p>
      <pre><code id={`${id}-env`}>{openWebUiEnv(key, info)}</code></pre>
      {jwt && !key.has_secret && (
        <Notice kind="error">
          No secret is set on the key yet: every request would be refused. Enter it on{" "}
          <a href={`/keys/${key.id}#delegation`}>the key's page</a>.
        </Notice>
      )}
      <ul class="setup-notes">
        {jwt
          ? (
            <li>
              <code>FORWARD_USER_INFO_HEADER_JWT_SECRET</code>{" "}
              must be the same text as the secret on the key's page (it is not shown again here).
            </li>
          )
          : (
            <li>
              Leave <code>FORWARD_USER_INFO_HEADER_JWT_SECRET</code>{" "}
              unset: with it, Open WebUI sends a signed token instead of the headers, and nobody
              would be told apart.
            </li>
          )}
        <li>
          Open WebUI reads <code>OPENAI_API_BASE_URL</code> and <code>OPENAI_API_KEY</code>{" "}
          only on its first start. Later, add the connection in Open WebUI's{" "}
          <em>Admin Settings → Connections</em>: an OpenAI API connection with the URL{" "}
          <code>{info.openai_base_url}</code>, or an Ollama API connection with the URL{" "}
          <code>{info.ollama_base_url}</code>, each with the key.
        </li>
        <li>
          Open WebUI must reach the gateway from a trusted address of the key:{" "}
          <code>{peers}</code>. From anywhere else, requests with this key are refused.
        </li>
      </ul>
      {!jwt && (
        <Notice kind="warning">
          <strong>Plain headers believe whoever sends them.</strong>{" "}
          Anyone who holds this key and can reach the gateway from <code>{peers}</code>{" "}
          can claim to be any person and use up their quota. Use the signed token instead, unless
          only Open WebUI can send requests from these addresses.
        </Notice>
      )}
    </section>
  );
}
