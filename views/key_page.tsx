/**
 * One key's page: the limits that apply to it and whose each one is (the key's or its group's),
 * its group, its per-person settings and, for a key that tells people apart, its people.
 * @module
 */
import type { EffectiveLimit } from "../core/groups.ts";
import { LIMIT_KINDS, type LimitField, type LimitKind } from "../core/limits.ts";
import type { KeyUsage } from "../core/model.ts";
import { DelegationSection } from "./delegation_form.tsx";
import type { FormState } from "./form_state.ts";
import type { GroupChoice } from "./group_field.tsx";
import { formatAgo, formatDateTime, formatWhole } from "./format.ts";
import { type KeyRow, KindBar, settledUsedOf, usedOf } from "./key_usage.tsx";
import { type MemberEditing, type MemberListing, MembersSection } from "./members.tsx";
import { CsrfField, Notice, PageHeader } from "./parts.tsx";
import type { ViewContext } from "./view_context.ts";

/** Everything a key's page shows. */
export interface KeyPageProps {
  ctx: ViewContext;
  keyRow: KeyRow;
  /** The key's group with its usage today and this month; null: none. */
  group: (GroupChoice & { usage: KeyUsage }) | null;
  /** Every group, for the group choice. */
  groups: GroupChoice[];
  effective: EffectiveLimit[];
  members: MemberListing;
  memberEditing?: MemberEditing;
  delegationForm?: FormState;
  delegationSaved?: boolean;
  groupForm?: FormState;
  groupSaved?: boolean;
}

const STATUS_LABEL = {
  active: "Active",
  deactivated: "Deactivated",
  expired: "Expired",
  idle: "Idle too long",
};

/** The whole content of a key's page. */
export function KeyPage(p: KeyPageProps) {
  const k = p.keyRow;
  return (
    <>
      <p class="breadcrumb">
        <a href="/keys">Keys</a> <span aria-hidden="true">›</span>
      </p>
      <PageHeader title={k.name}>
        <span class={`badge ${k.status}`}>{STATUS_LABEL[k.status]}</span>{" "}
        <code class="prefix">{k.prefix}…</code> {k.last_used_at
          ? (
            <span title={formatDateTime(k.last_used_at, p.ctx.timeZone)}>
              · used {formatAgo(k.last_used_at, p.ctx.now)}
            </span>
          )
          : "· never used"} · <a href={`/keys/${k.id}/edit`}>Edit name, limits and expiry</a>
        {" · "}
        <a href={`/usage?key_id=${k.id}`}>Usage</a> ·{" "}
        <a href={`/requests?key_id=${k.id}`}>Requests</a>
      </PageHeader>
      <KeyPageBody {...p} />
    </>
  );
}

/**
 * The sections of a key's page (the fragment a saved per-person setting swaps: it changes
 * whether the people are listed and what the limits section says about them).
 */
export function KeyPageBody(p: KeyPageProps) {
  const k = p.keyRow;
  return (
    <div id="key-page">
      <LimitsSection {...p} />
      {/* The people first: the settings are made once, the list is looked at every day. */}
      {(k.identity !== null || p.members.all > 0) && (
        <MembersSection
          ctx={p.ctx}
          keyId={k.id}
          delegating={k.identity !== null}
          listing={p.members}
          editing={p.memberEditing}
        />
      )}
      <DelegationSection
        ctx={p.ctx}
        keyId={k.id}
        delegation={k}
        form={p.delegationForm}
        saved={p.delegationSaved}
      />
    </div>
  );
}

/** What one limit has used so far in its window, by whose counter it is; null: not shown. */
function usedFor(limit: EffectiveLimit, p: KeyPageProps): number | null {
  const kind = (LIMIT_KINDS as ReadonlyArray<LimitKind>).find((k) => k.field === limit.field)!;
  if (limit.source === "key") return usedOf(kind, p.keyRow);
  // A group's live minute and in-flight counts are not read by the admin (only keys' are).
  return p.group ? settledUsedOf(kind, p.group.usage) : null;
}

/** The limits that apply, whose each one is, and the group choice (the fragment it swaps). */
export function LimitsSection(p: KeyPageProps) {
  const k = p.keyRow;
  const e = p.groupForm?.errors ?? {};
  const selected = p.groupForm?.values.group_id ?? (k.group_id === null ? "" : String(k.group_id));
  return (
    <section id="key-limits" class="card" aria-labelledby="key-limits-title">
      <h2 id="key-limits-title">Limits that apply</h2>
      {p.groupSaved && (
        <Notice kind="success">
          {p.group ? `Now in the group “${p.group.name}”.` : "No longer in a group."}{" "}
          The next request counts against the limits below.
        </Notice>
      )}
      <p class="hint section-lead">
        A request must fit every limit here. Where the key and its group both limit the same thing,
        the tighter one is shown: it is the one that refuses first.
        {k.identity !== null && " Each person also has limits of their own (under People)."}
      </p>
      {p.effective.length === 0
        ? (
          <p class="empty">
            No limits: the key may send as many requests and tokens as it likes.
          </p>
        )
        : (
          <table class="effective">
            <caption class="visually-hidden">
              Every limit that applies to this key, whose limit it is, and what is used of it
            </caption>
            <thead>
              <tr>
                <th scope="col">Limit</th>
                <th scope="col">From</th>
                <th scope="col">Used</th>
              </tr>
            </thead>
            <tbody>
              {p.effective.map((limit) => {
                const kind = (LIMIT_KINDS as ReadonlyArray<LimitKind>).find((x) =>
                  x.field === limit.field
                )!;
                const used = usedFor(limit, p);
                const own = k[limit.field as LimitField];
                return (
                  <tr data-limit={limit.field}>
                    <td data-label="Limit">
                      <span class="limit-value">{formatWhole(limit.max)}</span> {kind.unit}
                    </td>
                    <td data-label="From" class="limit-source">
                      {limit.source === "key"
                        ? <span class="source key">This key</span>
                        : (
                          <span class="source group">
                            Group <a href={`/groups#group-${k.group_id}`}>“{p.group?.name}”</a>
                            <span class="muted">, shared with its other keys</span>
                            {own !== null && (
                              <span class="own-limit muted">
                                The key's own, looser: {formatWhole(own)}
                              </span>
                            )}
                          </span>
                        )}
                    </td>
                    <td data-label="Used" class="usage-cell">
                      {used === null
                        ? <span class="muted">Not shown for groups</span>
                        : <KindBar kind={kind} used={used} limit={limit.max} />}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      <form
        class="group-choice"
        method="post"
        action={`/keys/${k.id}/group`}
        hx-post={`/keys/${k.id}/group`}
        hx-target="#key-limits"
        hx-swap="outerHTML"
      >
        <CsrfField token={p.ctx.csrf} />
        <div class={`field${e.group_id ? " invalid" : ""}`}>
          <label for="key-group">Group</label>
          {p.groups.length === 0
            ? (
              <p class="hint">
                No groups yet. <a href="/groups">Create one on the Groups page</a>{" "}
                to give several keys a shared budget.
              </p>
            )
            : (
              <div class="inline-field">
                <select
                  id="key-group"
                  name="group_id"
                  aria-describedby="key-group-hint"
                  aria-invalid={e.group_id ? "true" : undefined}
                >
                  <option value="" selected={selected === ""}>No group</option>
                  {p.groups.map((g) => (
                    <option value={String(g.id)} selected={selected === String(g.id)}>
                      {g.name}
                    </option>
                  ))}
                </select>
                <button type="submit" class="btn secondary">Save group</button>
              </div>
            )}
          {p.groups.length > 0 && (
            <p class="hint" id="key-group-hint">
              The group's limits apply on top of the key's own, shared with the group's other keys.
            </p>
          )}
          {e.group_id && <p class="field-error">{e.group_id}</p>}
        </div>
      </form>
    </section>
  );
}
