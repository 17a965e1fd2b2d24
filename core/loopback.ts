/**
 * Which host names and addresses mean "this machine only": one rule for the start-up checks, the
 * start-up report and the admin listener's Host check.
 * @module
 */

/**
 * Whether a host name or address only ever reaches this machine: `localhost`, `::1` (with or
 * without brackets), or an IPv4 literal in 127.0.0.0/8. A host *name* that starts with 127
 * (127.example.com) is not loopback: it may resolve anywhere.
 */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || h === "[::1]" ||
    /^127\.(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){2}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/.test(h);
}

/** Whether a bind address means "every interface" (0.0.0.0, ::), which is no host's name. */
export function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}
