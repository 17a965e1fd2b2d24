/**
 * Which host names and addresses mean "this machine only": one rule for the start-up checks, the
 * start-up report and the admin listener's Host check.
 * @module
 */

/**
 * Whether a host name or address only ever reaches this machine: `localhost` and `*.localhost`
 * (RFC 6761; browsers resolve them so), `::1` (with or without brackets), or an IPv4 literal in
 * 127.0.0.0/8, also IPv4-mapped. A trailing dot is the same name. A host *name* that starts
 * with 127 (127.example.com) is not loopback: it may resolve anywhere.
 */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" ||
    IPV4_LOOPBACK.test(h.replace(/^::ffff:/, ""));
}

const OCTET = "(?:25[0-5]|2[0-4]\\d|1?\\d?\\d)";
const IPV4_LOOPBACK = new RegExp(`^127\\.(?:${OCTET}\\.){2}${OCTET}$`);

/** Whether a bind address means "every interface" (0.0.0.0, ::), which is no host's name. */
export function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}
