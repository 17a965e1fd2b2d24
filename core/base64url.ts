/**
 * base64url (RFC 4648 §5, no padding): random tokens, JWT parts, sealed secrets.
 * @module
 */

/** The base64url text of bytes. */
export function toBase64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The bytes of a base64url text; throws on characters outside the alphabet. */
export function fromBase64url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not base64url");
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)), (c) => c.charCodeAt(0));
}

/** `n` random bytes as base64url. */
export function randomToken(n = 32): string {
  return toBase64url(crypto.getRandomValues(new Uint8Array(n)));
}
