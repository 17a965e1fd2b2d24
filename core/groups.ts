/**
 * Groups of keys (a team budget) and the people behind delegating keys, in the flat form the
 * admin API and UI use, and the limits that apply to a key once its group's are added.
 * @module
 */
import { LIMIT_KINDS, type LimitFields, limitFieldsOf, withLimitFields } from "./limits.ts";
import type { ApiKey, Group, KeyUsage, Limit, Member, Policy } from "./model.ts";
import { OPEN_POLICY } from "./model.ts";
import { memberName, memberPolicy } from "./scopes.ts";
import type { Store } from "./store.ts";
import { policyWith } from "./api_keys.ts";

/** A group as the admin API shows it. */
export type GroupFields = Omit<Group, "policy"> & LimitFields & { models: string[] | null };

/** The flat admin form of a group. */
export function groupFields(group: Group): GroupFields {
  const { policy, ...rest } = group;
  return { ...rest, ...limitFieldsOf(policy), models: policy.models };
}

/** A group's policy after flat admin fields (limits of LIMIT_KINDS and `models`). */
export function groupPolicyWith(base: Policy, fields: Record<string, unknown>): Policy {
  // Groups carry limits and a model list only: no output or context caps, no idle expiry.
  const { limits, models } = policyWith(base, fields);
  return { ...OPEN_POLICY, limits, models };
}

/** Creates a group from flat admin fields. */
export function createGroup(
  store: Store,
  fields: Record<string, unknown> & { name: string },
  now: Temporal.Instant,
): Promise<Group> {
  return store.createGroup(
    fields.name,
    groupPolicyWith(OPEN_POLICY, fields),
    new Date(now.epochMilliseconds).toISOString(),
  );
}

/** Applies flat admin fields to a group; null when it does not exist. */
export async function updateGroup(
  store: Store,
  id: number,
  fields: Record<string, unknown> & { name?: string },
): Promise<Group | null> {
  const current = await store.getGroup(id);
  if (!current) return null;
  return await store.updateGroup(id, {
    name: fields.name,
    policy: groupPolicyWith(current.policy, fields),
  });
}

/** One limit that applies to a key, and whose it is. */
export interface EffectiveLimit {
  field: string;
  label: string;
  max: number;
  source: "key" | "group";
}

/** Every limit that applies to a key, its group's included: the tightest of each kind. */
export function effectiveLimits(key: ApiKey, group: Group | null): EffectiveLimit[] {
  const out: EffectiveLimit[] = [];
  for (const kind of LIMIT_KINDS) {
    const own = key.policy.limits.find((l) => l.metric === kind.metric && l.window === kind.window);
    const team = group?.policy.limits.find((l) =>
      l.metric === kind.metric && l.window === kind.window
    );
    const tightest = own && team
      ? (team.max < own.max ? "group" : "key")
      : own
      ? "key"
      : team
      ? "group"
      : null;
    if (tightest === null) continue;
    out.push({
      field: kind.field,
      label: kind.label,
      max: (tightest === "key" ? own : team)!.max,
      source: tightest,
    });
  }
  return out;
}

/** A member as the admin API shows it: who, their limits and where those come from. */
export interface MemberFields {
  id: number;
  key_id: number;
  external_id: string;
  /** How the person is shown (name, else email, else id; "unattributed" for calls without). */
  display_name: string;
  email: string | null;
  name: string | null;
  role: string | null;
  blocked: boolean;
  /** The limits that apply to them, as flat fields. */
  limits: LimitFields;
  /** Whether an admin set this person's limits (else the key's member_limits apply). */
  limits_overridden: boolean;
  created_at: string;
  last_seen_at: string | null;
  usage: KeyUsage;
}

/** The flat admin form of a member. */
export function memberFields(key: ApiKey, member: Member, usage: KeyUsage): MemberFields {
  return {
    id: member.id,
    key_id: member.key_id,
    external_id: member.external_id,
    display_name: memberName(member),
    email: member.email,
    name: member.name,
    role: member.role,
    blocked: member.blocked,
    limits: limitFieldsOf(memberPolicy(key, member)),
    limits_overridden: member.limits !== null,
    created_at: member.created_at,
    last_seen_at: member.last_seen_at,
    usage,
  };
}

/** A member's own limits after flat admin fields (null: back to the key's member_limits). */
export function memberLimitsWith(
  key: ApiKey,
  member: Member,
  fields: Record<string, number | null> | null,
): Limit[] | null {
  if (fields === null) return null;
  return withLimitFields(member.limits ?? key.delegation?.member_limits ?? [], fields);
}

/** Limit kinds a member can have (no minute token limit: the template has none either). */
export const MEMBER_LIMIT_FIELDS = LIMIT_KINDS.filter((k) =>
  !(k.metric === "tokens" && k.window === "minute")
).map((k) => k.field);
