/**
 * The proxy's base URLs as clients should configure them, and where that address comes from.
 * @module
 */
import type { Config } from "./config.ts";
import { isLoopback, isWildcard } from "./loopback.ts";

/**
 * Where the address comes from: the Settings page, PUBLIC_URL, the proxy's own listen address
 * (PROXY_HOST), the host name the admin page was opened with, or the loopback address (which
 * works only on the gateway's machine).
 */
export type ProxyUrlSource = "setting" | "environment" | "proxy_host" | "admin_host" | "loopback";

/** Base URLs for Ollama clients and OpenAI clients. */
export interface ProxyInfo {
  ollama_base_url: string;
  openai_base_url: string;
  source: ProxyUrlSource;
}

/** The host name of a Host header (without its port), or "" when there is none usable. */
export function hostOfHeader(header: string | undefined): string {
  if (!header) return "";
  try {
    return new URL(`http://${header}/`).hostname;
  } catch {
    return "";
  }
}

function base(url: string, source: ProxyUrlSource): ProxyInfo {
  return { ollama_base_url: url, openai_base_url: `${url}/v1`, source };
}

/**
 * Derives the proxy's base URLs: the public URL of the Settings page, else PUBLIC_URL, else the
 * listen address; a wildcard bind takes the host name the admin was reached by unless that is a
 * loopback name, which other machines cannot use anyway.
 */
export function proxyInfo(
  config: Pick<Config, "proxyHost" | "proxyPort" | "publicUrl">,
  publicUrlSetting: string,
  adminHostHeader?: string,
): ProxyInfo {
  if (publicUrlSetting) return base(publicUrlSetting, "setting");
  if (config.publicUrl) return base(config.publicUrl, "environment");
  const bracket = (h: string) => h.includes(":") && !h.startsWith("[") ? `[${h}]` : h;
  const port = config.proxyPort;
  if (!isWildcard(config.proxyHost)) {
    const source = isLoopback(config.proxyHost) ? "loopback" : "proxy_host";
    return base(`http://${bracket(config.proxyHost)}:${port}`, source);
  }
  const host = hostOfHeader(adminHostHeader);
  if (host && !isLoopback(host) && !isWildcard(host)) {
    return base(`http://${host}:${port}`, "admin_host");
  }
  return base(`http://127.0.0.1:${port}`, "loopback");
}
