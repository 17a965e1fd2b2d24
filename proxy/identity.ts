/**
 * Who is asking through a delegating key: the person Open WebUI (or another front end) names in
 * its forwarded headers or its signed JWT, believed only from the key's trusted peers. Each
 * person becomes a member of the key, created on first sight, with limits of their own.
 * @module
 */
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { inAnyCidr } from "../core/cidr.ts";
import { InvalidIdentity, verifyIdentityJwt } from "../core/jwt.ts";
import type { ApiKey, Delegation, Member } from "../core/model.ts";
import { open } from "../core/secret_box.ts";
import { withoutControlCharacters } from "../core/text.ts";
import { databaseUnavailable, type ProxyEnv } from "./auth.ts";
import { ProxyError } from "./errors.ts";

/** A person as the front end names them. */
interface Person {
  external_id: string;
  email: string | null;
  name: string | null;
  role: string | null;
}

/** The unattributed member: calls without identity (title generation, RAG embeddings). */
const UNATTRIBUTED: Person = { external_id: "", email: null, name: null, role: null };

/** How long a member read for a person is reused before its row is touched again (ms). */
const MEMBER_CACHE_MS = 60_000;
/** Members read per store (a process may hold several, tests above all). */
const memberCaches = new WeakMap<object, Map<string, { member: Member; at: number }>>();

/** The address the request came from: the peer, or X-Forwarded-For from a trusted proxy. */
export function clientAddress(c: Context, trustedProxies: ReadonlyArray<string>): string {
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  const peer = info?.remoteAddr?.hostname ?? "";
  if (trustedProxies.length === 0 || !inAnyCidr(peer, trustedProxies)) return peer;
  // The rightmost address a trusted proxy did not add is the client's.
  const hops = (c.req.header("x-forwarded-for") ?? "").split(",").map((h) => h.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!inAnyCidr(hops[i], trustedProxies)) return hops[i];
  }
  return hops[0] ?? peer;
}

const bounded = (v: string | undefined | null, max = 320): string | null => {
  if (v === undefined || v === null || v === "") return null;
  return withoutControlCharacters(v).slice(0, max);
};

function decodeName(v: string | undefined): string | null {
  if (v === undefined) return null;
  try {
    return bounded(decodeURIComponent(v));
  } catch {
    return bounded(v); // not percent-encoded after all
  }
}

/** The person a delegating key's request names, or null when it names none. */
function personOf(c: Context, d: Delegation, secret: () => string, nowMs: number): Person | null {
  if (d.identity === "openwebui-jwt") {
    const token = c.req.header(d.headers.jwt);
    if (!token) return null;
    try {
      const claims = verifyIdentityJwt(token, secret(), nowMs);
      return {
        external_id: claims.sub,
        email: bounded(claims.email),
        name: bounded(claims.name),
        role: bounded(claims.role, 64),
      };
    } catch (err) {
      if (!(err instanceof InvalidIdentity)) throw err;
      throw new ProxyError(401, `Invalid identity: ${err.message}`, "invalid_identity");
    }
  }
  const id = bounded(c.req.header(d.headers.user_id), 200);
  if (id === null) return null;
  return {
    external_id: id,
    email: bounded(c.req.header(d.headers.email)),
    name: decodeName(c.req.header(d.headers.name)),
    role: bounded(c.req.header(d.headers.role), 64),
  };
}

/**
 * The member of a delegating key a request counts against (null for other keys), or throws the
 * client's error: 403 from an untrusted peer, 401 for a missing (when refused) or invalid
 * identity.
 */
export async function memberOfRequest(
  c: Context<ProxyEnv>,
  key: ApiKey,
  deps: Deps,
): Promise<Member | null> {
  const d = key.delegation;
  if (d === null) return null;
  const peer = clientAddress(c, deps.config.trustedProxies);
  if (!inAnyCidr(peer, d.trusted_peers)) {
    throw new ProxyError(
      403,
      "This key passes on who is asking, so it is accepted only from its trusted front end; call it from there or use a key of your own",
      "identity_untrusted_peer",
    );
  }
  const now = deps.clock.now();
  const secret = () => {
    const plain = d.secret === null ? null : open(d.secret, deps.config.secretsKey);
    if (plain === null) {
      deps.log.error("delegating key has no usable identity secret", { key: key.prefix });
      throw new ProxyError(
        401,
        "Invalid identity: this key's identity secret is not set (ask an admin)",
        "invalid_identity",
      );
    }
    return plain;
  };
  let person = personOf(c, d, secret, now.epochMilliseconds);
  if (person === null) {
    if (d.on_missing_identity === "reject") {
      throw new ProxyError(
        401,
        "Invalid identity: this key needs to know who is asking, and the request does not say",
        "invalid_identity",
      );
    }
    person = UNATTRIBUTED;
  }
  let memberCache = memberCaches.get(deps.store);
  if (!memberCache) memberCaches.set(deps.store, memberCache = new Map());
  const cacheKey = JSON.stringify([
    key.id,
    person.external_id,
    person.email,
    person.name,
    person.role,
  ]);
  const hit = memberCache.get(cacheKey);
  const nowMs = performance.now();
  if (hit && nowMs - hit.at < MEMBER_CACHE_MS) return hit.member;
  let member: Member;
  try {
    member = await deps.store.memberFor(
      key.id,
      person,
      new Date(now.epochMilliseconds).toISOString(),
    );
  } catch (err) {
    throw databaseUnavailable(deps, err);
  }
  if (memberCache.size > 10_000) memberCache.clear();
  memberCache.set(cacheKey, { member, at: nowMs });
  return member;
}
