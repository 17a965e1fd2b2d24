/**
 * A delegating key's settings as the admin API shows and takes them: flat fields beside the
 * key's own (`identity`, `trusted_peers`, `identity_headers`, `identity_secret` — write-only —,
 * `member_limits`, `on_missing_identity`), turned into the stored Delegation and back.
 * @module
 */
import { type LimitFields, limitFieldsOf, withLimitFields } from "./limits.ts";
import {
  type Delegation,
  type IdentityHeaders,
  type IdentityMode,
  type Limit,
  OPEN_POLICY,
  OPENWEBUI_HEADERS,
} from "./model.ts";
import { seal } from "./secret_box.ts";

/** Peers a new delegating key trusts: the gateway's own machine (Open WebUI beside it). */
export const DEFAULT_TRUSTED_PEERS = ["127.0.0.1/32", "::1/128"];

/** The delegation fields of the admin API as they are shown (never the secret). */
export interface DelegationView {
  identity: IdentityMode | null;
  trusted_peers: string[];
  identity_headers: IdentityHeaders;
  has_identity_secret: boolean;
  member_limits: LimitFields;
  on_missing_identity: "reject" | "unattributed";
}

/** How a key's delegation is shown (a key that does not delegate shows the defaults). */
export function delegationView(d: Delegation | null): DelegationView {
  return {
    identity: d?.identity ?? null,
    trusted_peers: d?.trusted_peers ?? DEFAULT_TRUSTED_PEERS,
    identity_headers: d?.headers ?? OPENWEBUI_HEADERS,
    has_identity_secret: d?.secret != null,
    member_limits: limitFieldsOf({ ...OPEN_POLICY, limits: d?.member_limits ?? [] }),
    on_missing_identity: d?.on_missing_identity ?? "unattributed",
  };
}

/** The delegation fields an admin may send (absent: unchanged). */
export interface DelegationInput {
  identity?: IdentityMode | null;
  trusted_peers?: string[];
  identity_headers?: Partial<IdentityHeaders>;
  identity_secret?: string | null;
  member_limits?: Record<string, number | null>;
  on_missing_identity?: "reject" | "unattributed";
}

/** Whether admin input changes a key's delegation. */
export function touchesDelegation(fields: Record<string, unknown>): boolean {
  return [
    "identity",
    "trusted_peers",
    "identity_headers",
    "identity_secret",
    "member_limits",
    "on_missing_identity",
  ].some((f) => fields[f] !== undefined);
}

/** Why delegation input cannot be stored, or null. */
export class DelegationProblem extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/**
 * The delegation after applying admin input to `current`: `identity: null` ends it; a secret
 * is sealed under `secretsKey`. Throws DelegationProblem for a JWT identity without a secret.
 */
export function delegationWith(
  current: Delegation | null,
  input: DelegationInput,
  secretsKey: string,
): Delegation | null {
  if (input.identity === null) return null;
  const identity = input.identity ?? current?.identity;
  if (identity === undefined) {
    if (Object.values(input).some((v) => v !== undefined)) {
      throw new DelegationProblem(
        "identity",
        'identity: set "openwebui-headers" or "openwebui-jwt" first; the other delegation fields apply to a delegating key',
      );
    }
    return current;
  }
  const memberLimits: Limit[] = input.member_limits === undefined
    ? current?.member_limits ?? []
    : withLimitFields(current?.member_limits ?? [], input.member_limits);
  const secret = input.identity_secret === undefined
    ? current?.secret ?? null
    : input.identity_secret === null
    ? null
    : seal(input.identity_secret, secretsKey);
  if (identity === "openwebui-jwt" && secret === null) {
    throw new DelegationProblem(
      "identity_secret",
      "identity_secret: required for openwebui-jwt (Open WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET)",
    );
  }
  return {
    identity,
    trusted_peers: input.trusted_peers ?? current?.trusted_peers ?? DEFAULT_TRUSTED_PEERS,
    headers: { ...(current?.headers ?? OPENWEBUI_HEADERS), ...input.identity_headers },
    secret,
    member_limits: memberLimits,
    on_missing_identity: input.on_missing_identity ?? current?.on_missing_identity ??
      "unattributed",
  };
}
