/**
 * API key format, hashing and constant-time comparison.
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { randomToken } from "./base64url.ts";

const KEY_BYTES = 32;
/** How many characters of a key (after `sk-`) are kept for display. */
const PREFIX_CHARS = 8;

/** Creates a new plaintext API key: `sk-` followed by 32 random bytes, base64url. */
export function generateApiKey(): string {
  return "sk-" + randomToken(KEY_BYTES);
}

/** SHA-256 hex of a key; synchronous because it is on every request's path. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** The short, safe-to-show start of a key, e.g. `sk-Ab12Cd34`. */
export function displayPrefix(key: string): string {
  return key.slice(0, 3 + PREFIX_CHARS);
}

/** Compares two secrets in time that does not depend on where they differ. */
export function secretsEqual(given: string, expected: string): boolean {
  // Hashing first gives equal lengths, so the comparison leaks neither content nor length.
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}
