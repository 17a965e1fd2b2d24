/**
 * What a key's page shows, read from the store: the key with its usage, its group, the limits
 * that apply, and one page of its people after a search.
 * @module
 */
import { keyView, noUsage } from "../core/api_keys.ts";
import { effectiveLimits, type MemberFields, memberFields } from "../core/groups.ts";
import type { ApiKey, Member } from "../core/model.ts";
import { requestWindows } from "../core/windows.ts";
import type { Deps } from "../deps.ts";
import type { KeyPageProps } from "../views/key_page.tsx";
import { NO_LIVE_USAGE } from "../views/key_usage.tsx";
import { type MemberListing, MEMBERS_PER_PAGE } from "../views/members.tsx";
import { AdminError } from "./errors.ts";

/** The message of a key that is not there. */
export const KEY_GONE = "This key does not exist (it may have been deleted)";

/** A search and page of the people list. */
export interface MemberQuery {
  q: string;
  page: number;
}

/** Whether a person matches a search: their name, email or id contains it, in any case. */
function matches(m: MemberFields, q: string): boolean {
  if (q === "") return true;
  const needle = q.toLowerCase();
  return [m.display_name, m.name, m.email, m.external_id].some((text) =>
    text?.toLowerCase().includes(needle)
  );
}

/**
 * One page of people after a search: the most recently seen first (those never seen last), a
 * page past the end showing the last one.
 */
export function memberListing(members: MemberFields[], query: MemberQuery): MemberListing {
  const seen = (m: MemberFields) => m.last_seen_at ? Date.parse(m.last_seen_at) : -Infinity;
  const found = members.filter((m) => matches(m, query.q))
    .sort((a, b) => seen(b) - seen(a) || a.id - b.id);
  const pages = Math.max(1, Math.ceil(found.length / MEMBERS_PER_PAGE));
  const page = Math.min(query.page, pages);
  return {
    rows: found.slice((page - 1) * MEMBERS_PER_PAGE, page * MEMBERS_PER_PAGE),
    matching: found.length,
    all: members.length,
    q: query.q,
    page,
    pages,
  };
}

/** A key or 404. */
export async function keyOr404(deps: Deps, id: number): Promise<ApiKey> {
  const key = await deps.store.getKey(id);
  if (!key) throw new AdminError(404, KEY_GONE);
  return key;
}

/** A person of a key or 404. */
export async function memberOr404(deps: Deps, key: ApiKey, memberId: number): Promise<Member> {
  const member = (await deps.store.listMembers(key.id)).find((m) => m.id === memberId);
  if (!member) throw new AdminError(404, "This person is not among the key's people");
  return member;
}

/** A person of a key as the list shows them, with their usage today and this month. */
export async function memberRow(deps: Deps, key: ApiKey, member: Member): Promise<MemberFields> {
  const windows = requestWindows(deps.clock.now(), deps.config.timeZone);
  const usage = await deps.store.usageByOwner("member", windows);
  return memberFields(key, member, usage.get(member.id) ?? noUsage());
}

/** Everything a key's page shows but the view context and the forms' states. */
export async function loadKeyPage(
  deps: Deps,
  id: number,
  query: MemberQuery,
): Promise<Omit<KeyPageProps, "ctx">> {
  const key = await keyOr404(deps, id);
  const now = deps.clock.now();
  const windows = requestWindows(now, deps.config.timeZone);
  // In callbacks: a store that throws at once (SQLite) rejects these promises instead.
  const read = <T>(f: () => Promise<T>) => Promise.resolve().then(f);
  const [groups, keyUsage, live, groupUsage, members, memberUsage] = await Promise.all([
    read(() => deps.store.listGroups()),
    read(() => deps.store.usageByOwner("key", windows)),
    read(() => deps.store.liveUsageByKey(windows.minute)),
    read(() => deps.store.usageByOwner("group", windows)),
    read(() => deps.store.listMembers(key.id)),
    read(() => deps.store.usageByOwner("member", windows)),
  ]);
  const group = groups.find((g) => g.id === key.group_id) ?? null;
  const rows = members.map((m) => memberFields(key, m, memberUsage.get(m.id) ?? noUsage()));
  return {
    keyRow: { ...keyView(key, keyUsage.get(key.id), now), live: live.get(key.id) ?? NO_LIVE_USAGE },
    group: group && {
      id: group.id,
      name: group.name,
      usage: groupUsage.get(group.id) ?? noUsage(),
    },
    groups: groups.map((g) => ({ id: g.id, name: g.name }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id),
    effective: effectiveLimits(key, group),
    members: memberListing(rows, query),
  };
}
