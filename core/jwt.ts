/**
 * Verifying the HS256 JWT Open WebUI can forward with each request (`X-OpenWebUI-User-Jwt`):
 * the signature (constant-time), the algorithm (HS256 only: `alg: none` and every other is
 * refused), the issuer and the time claims with a small skew.
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { fromBase64url } from "./base64url.ts";

/** Seconds of clock difference allowed between Open WebUI and the gateway. */
export const JWT_SKEW_SECONDS = 60;

/** The claims of a verified token. */
export interface IdentityClaims {
  sub: string;
  email: string | null;
  name: string | null;
  role: string | null;
}

/** Why a token was refused (for the 401's message; never the token itself). */
export class InvalidIdentity extends Error {}

function base64urlDecode(part: string): Uint8Array {
  try {
    return fromBase64url(part);
  } catch {
    throw new InvalidIdentity("token is not base64url");
  }
}

function jsonPart(part: string): Record<string, unknown> {
  try {
    const v = JSON.parse(new TextDecoder().decode(base64urlDecode(part)));
    if (v && typeof v === "object" && !Array.isArray(v)) return v;
  } catch (err) {
    if (err instanceof InvalidIdentity) throw err;
  }
  throw new InvalidIdentity("token is not a JWT");
}

const text = (v: unknown, max = 320) => typeof v === "string" && v !== "" ? v.slice(0, max) : null;

/** Verifies a token signed with `secret` at `nowMs`; throws InvalidIdentity saying why not. */
export function verifyIdentityJwt(token: string, secret: string, nowMs: number): IdentityClaims {
  const parts = token.trim().split(".");
  if (parts.length !== 3) throw new InvalidIdentity("token is not a JWT");
  const header = jsonPart(parts[0]);
  if (header.alg !== "HS256") throw new InvalidIdentity("token is not signed with HS256");
  const expected = createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = base64urlDecode(parts[2]);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new InvalidIdentity("token signature does not match");
  }
  const claims = jsonPart(parts[1]);
  if (claims.iss !== "open-webui") throw new InvalidIdentity("token issuer is not open-webui");
  const now = nowMs / 1000;
  if (typeof claims.exp !== "number" || claims.exp + JWT_SKEW_SECONDS < now) {
    throw new InvalidIdentity("token has expired");
  }
  if (typeof claims.iat === "number" && claims.iat - JWT_SKEW_SECONDS > now) {
    throw new InvalidIdentity("token is issued in the future");
  }
  const sub = text(claims.sub, 200);
  if (sub === null) throw new InvalidIdentity("token names no user (sub)");
  return { sub, email: text(claims.email), name: text(claims.name), role: text(claims.role, 64) };
}
