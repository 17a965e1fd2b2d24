/**
 * The proxy's base URLs as clients should configure them.
 * @module
 */
import type { Config } from "../core/config.ts";

/** Base URLs for Ollama clients and OpenAI clients. */
export interface ProxyInfo {
  ollama_base_url: string;
  openai_base_url: string;
}

/** Derives the proxy's base URLs; a wildcard bind address is replaced by the admin's host name. */
export function proxyInfo(config: Config, adminHostHeader?: string): ProxyInfo {
  let host = config.proxyHost;
  if (host === "0.0.0.0" || host === "::" || host === "[::]") {
    const fromAdmin = adminHostHeader?.replace(/:\d+$/, "");
    host = fromAdmin && fromAdmin !== "0.0.0.0" ? fromAdmin : "localhost";
  }
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  const base = `http://${host}:${config.proxyPort}`;
  return { ollama_base_url: base, openai_base_url: `${base}/v1` };
}
