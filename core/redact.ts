/**
 * What log lines and error messages show of values that may carry a secret: API keys a client
 * put into a URL path, and credentials written into a URL (`http://user:pass@host`).
 * @module
 */

/** `sk-` anywhere, also with any of its characters percent-encoded (once or more). */
const KEY_HINT = /(?:s|%(?:25)*73)(?:k|%(?:25)*6b)(?:-|%(?:25)*2d)/i;
/** From a key's `sk-` to the end of its path segment; `task-…` and the like are no key. */
const KEY_IN_PATH =
  /(?:(?<![a-z0-9])|(?<=%[0-9a-f]{2}))(?:s|%(?:25)*73)(?:k|%(?:25)*6b)(?:-|%(?:25)*2d)[^/]*/gi;

/** Longest path shown in log lines and messages: a client's path must not make them unbounded. */
const MAX_SHOWN_PATH = 1024;

/**
 * A URL path for log lines and messages: each key-like part (`sk-…` to the end of its segment)
 * shown as `sk-***`, and cut after MAX_SHOWN_PATH characters.
 */
export function redactPath(path: string): string {
  // On every request: one test, and replacement work only when `sk-` occurs.
  const shown = KEY_HINT.test(path) ? path.replace(KEY_IN_PATH, "sk-***") : path;
  return shown.length > MAX_SHOWN_PATH
    ? `${shown.slice(0, MAX_SHOWN_PATH)}…(${shown.length - MAX_SHOWN_PATH} more)`
    : shown;
}

/** A URL with its username and password (if any) shown as `***`: `http://***@host:11434`. */
export function redactUrl(url: string): string {
  const at = url.indexOf("@");
  if (at < 0) return url;
  const scheme = url.indexOf("://");
  if (scheme < 0 || scheme > at) return url;
  const start = scheme + 3;
  // The authority ends at the path, query or fragment; its last `@` ends the credentials.
  let end = start;
  while (end < url.length && !"/?#\\".includes(url[end])) end++;
  const last = url.lastIndexOf("@", end - 1);
  return last < start ? url : url.slice(0, start) + "***" + url.slice(last);
}

/** Credentials in URLs in a text: a message from elsewhere that may quote a URL. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#\\]*@/gi;

/** A text with the credentials of every URL it quotes shown as `***`. */
export function redactUrlsIn(text: string): string {
  return text.includes("@") ? text.replace(URL_CREDENTIALS, "$1***@") : text;
}

/**
 * The URL to store when the admin sends `sent` for a URL stored as `stored`: forms and answers
 * show `stored` redacted, so its redacted form coming back unchanged means "keep it", and the
 * stored user name and password stay; anything else is the new URL.
 */
export function keepCredentials(sent: string, stored: string): string {
  const trim = (u: string) => u.replace(/\/+$/, "");
  return sent !== stored && trim(sent) === trim(redactUrl(stored)) ? stored : sent;
}
