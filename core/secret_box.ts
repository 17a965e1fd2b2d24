/**
 * Secrets the gateway must read back (a delegating key's JWT secret) are stored encrypted:
 * AES-256-GCM under a key derived from SECRETS_KEY, or from ADMIN_PASSWORD when that is unset
 * (changing it then means entering such secrets again; the README says so).
 * @module
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { fromBase64url, toBase64url } from "./base64url.ts";

const VERSION = "v1";

function keyOf(material: string): Uint8Array {
  return createHash("sha256").update(`llm-quota secret box\0${material}`).digest();
}

/** The stored form of `plaintext`: `v1.<iv>.<ciphertext and tag>`, base64url. */
export function seal(plaintext: string, material: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyOf(material), iv);
  const body = new Uint8Array([
    ...cipher.update(plaintext, "utf8"),
    ...cipher.final(),
    ...cipher.getAuthTag(),
  ]);
  return `${VERSION}.${toBase64url(iv)}.${toBase64url(body)}`;
}

/** The plaintext of a sealed value, or null when it was sealed under other material. */
export function open(sealed: string, material: string): string | null {
  const [version, iv, body] = sealed.split(".");
  if (version !== VERSION || !iv || !body) return null;
  try {
    const bytes = fromBase64url(body);
    const decipher = createDecipheriv("aes-256-gcm", keyOf(material), fromBase64url(iv));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return new TextDecoder().decode(
      new Uint8Array([
        ...decipher.update(bytes.subarray(0, bytes.length - 16)),
        ...decipher.final(),
      ]),
    );
  } catch {
    return null; // another key's box, or tampered with: treated as no secret
  }
}
