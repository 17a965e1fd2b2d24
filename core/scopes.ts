/**
 * Which owners of limits a request answers to — its key, the key's group, the person behind a
 * delegating key — and what each of them allows. Both stores build the scopes admission weighs
 * with `scopesFor`, after reading the owners inside their transaction.
 * @module
 */
import {
  type Ask,
  decide,
  type Decision,
  quotaState,
  type ScopeState,
  type Snapshot,
} from "./admission.ts";
import { keyStatusAt } from "./api_keys.ts";
import { type ApiKey, type Group, type Member, OPEN_POLICY, type Policy } from "./model.ts";

/** The owners a request answers to, as read inside the admission's transaction. */
export interface Owners {
  key: ApiKey;
  group: Group | null;
  member: Member | null;
}

/** The limits that apply to a member: the admin's own for this person, else the key's template. */
export function memberPolicy(key: ApiKey, member: Member): Policy {
  return { ...OPEN_POLICY, limits: member.limits ?? key.delegation?.member_limits ?? [] };
}

/** The name a member is shown under. */
export function memberName(member: Member): string {
  if (member.external_id === "") return "unattributed";
  return member.name || member.email || member.external_id;
}

/** The scopes of a request, each with its snapshot from `snapshotOf`. */
export function scopesFor(
  owners: Owners,
  snapshotOf: (scope: ScopeState["scope"], id: number) => Snapshot,
): ScopeState[] {
  const { key, group, member } = owners;
  const scopes: ScopeState[] = [
    {
      scope: "key",
      id: key.id,
      name: key.name,
      policy: key.policy,
      snapshot: snapshotOf("key", key.id),
    },
  ];
  if (group) {
    scopes.push({
      scope: "group",
      id: group.id,
      name: group.name,
      policy: group.policy,
      snapshot: snapshotOf("group", group.id),
    });
  }
  if (member) {
    scopes.push({
      scope: "member",
      id: member.id,
      name: memberName(member),
      policy: memberPolicy(key, member),
      snapshot: snapshotOf("member", member.id),
    });
  }
  return scopes;
}

/**
 * The admission of a request to its owners at `nowMs`: null when the key can no longer be used
 * (deactivated, expired, idle); otherwise the decision of `decide` over every scope (a blocked
 * person is refused before any limit is looked at).
 */
export function admissionDecision(
  owners: Owners,
  scopes: ReadonlyArray<ScopeState>,
  ask: Ask,
  nowMs: number,
): Decision | null {
  if (keyStatusAt(owners.key, nowMs) !== "active") return null;
  if (owners.member?.blocked) {
    return { ok: false, scope: "member", reason: "blocked", quota: quotaState(scopes) };
  }
  return decide(scopes, ask);
}

/** Whether any of the scopes has a limit in this window or on this metric. */
export function scopesNeed(
  scopes: ReadonlyArray<{ policy: Policy }>,
  what: { window?: "minute"; metric?: "concurrent" },
): boolean {
  // Loops, not nested `some` callbacks: closures made per call were compiled again and again by
  // V8 under load (bench/README.md, round eight), and admission asks this for every request.
  for (const s of scopes) {
    for (const l of s.policy.limits) {
      if (
        (what.window === undefined || l.window === what.window) &&
        (what.metric === undefined || l.metric === what.metric)
      ) return true;
    }
  }
  return false;
}
