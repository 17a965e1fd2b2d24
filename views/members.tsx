/**
 * The people behind a delegating key, on the key's page: a search, one page of them at a time
 * with their usage against their limits, and per person block/unblock and limits of their own.
 * @module
 */
import { memberField } from "./form_fields.ts";
import type { MemberFields } from "../core/groups.ts";
import { MEMBER_LIMIT_FIELDS } from "../core/groups.ts";
import { LIMIT_KINDS } from "../core/limits.ts";
import type { FormState } from "./form_state.ts";
import { countOf, formatAgo, formatDateTime, formatWhole } from "./format.ts";
import { CsrfField, Field } from "./parts.tsx";
import { PeriodBars, rateLimitTexts } from "./scope_usage.tsx";
import type { ViewContext } from "./view_context.ts";

/** How many people one page of the list shows. */
export const MEMBERS_PER_PAGE = 25;

/** One page of a key's people, after the search. */
export interface MemberListing {
  rows: MemberFields[];
  /** People matching the search. */
  matching: number;
  /** People of the key in all. */
  all: number;
  q: string;
  page: number;
  pages: number;
}

/** The person whose limits are being edited, with what was entered when a save failed. */
export interface MemberEditing {
  id: number;
  form?: FormState;
}

/** The member limit kinds in table order, with their labels. */
export const MEMBER_KINDS = LIMIT_KINDS.filter((k) =>
  (MEMBER_LIMIT_FIELDS as readonly string[]).includes(k.field)
);

/** The query string of a listing's search and page ("" for the first page of everyone). */
export function listingQuery(l: { q: string; page: number }): string {
  const params = new URLSearchParams();
  if (l.q) params.set("q", l.q);
  if (l.page > 1) params.set("page", String(l.page));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The members section of a key's page. */
export function MembersSection(
  { ctx, keyId, delegating, listing, editing }: {
    ctx: ViewContext;
    keyId: number;
    delegating: boolean;
    listing: MemberListing;
    editing?: MemberEditing;
  },
) {
  return (
    <section id="members" class="card" aria-labelledby="members-title">
      <div class="card-head">
        <h2 id="members-title">
          People{listing.all > 0 && <span class="muted">{` (${formatWhole(listing.all)})`}</span>}
        </h2>
        {listing.all > 0 && (
          <form
            class="filters"
            method="get"
            action={`/keys/${keyId}#members`}
            role="search"
            hx-get={`/keys/${keyId}/members`}
            hx-target="#member-table"
            hx-swap="outerHTML"
            hx-trigger="input delay:250ms from:#member-search, submit"
            hx-sync="this:replace"
          >
            <label for="member-search" class="visually-hidden">Search people</label>
            <input
              id="member-search"
              name="q"
              type="search"
              placeholder="Name, email or id"
              value={listing.q}
              autocomplete="off"
            />
            <button type="submit" class="btn secondary small">Search</button>
          </form>
        )}
      </div>
      {!delegating && listing.all > 0 && (
        <p class="hint">
          This key no longer tells people apart: these are the people it saw before, kept with their
          own limits in case it does again.
        </p>
      )}
      <MemberTable ctx={ctx} keyId={keyId} listing={listing} editing={editing} />
    </section>
  );
}

/** The table of one page of people (the fragment the search swaps), and the page links. */
export function MemberTable(
  { ctx, keyId, listing: l, editing }: {
    ctx: ViewContext;
    keyId: number;
    listing: MemberListing;
    editing?: MemberEditing;
  },
) {
  if (l.all === 0) {
    return (
      <div id="member-table">
        <p class="empty">
          Nobody yet. People appear here the first time Open WebUI sends a request for them.
        </p>
      </div>
    );
  }
  if (l.matching === 0) {
    return (
      <div id="member-table">
        <p class="empty">Nobody matches “{l.q}”.</p>
      </div>
    );
  }
  const first = (l.page - 1) * MEMBERS_PER_PAGE + 1;
  const last = first + l.rows.length - 1;
  return (
    <div id="member-table">
      <table class="members">
        <caption class="visually-hidden">
          People using this key, with today's and this month's usage against their limits
        </caption>
        <thead>
          <tr>
            <th scope="col">Person</th>
            <th scope="col">Status</th>
            <th scope="col">Today</th>
            <th scope="col">This month</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        {l.rows.map((m) => (
          <MemberEntry
            ctx={ctx}
            keyId={keyId}
            member={m}
            listing={l}
            editing={editing?.id === m.id ? editing : undefined}
          />
        ))}
      </table>
      <nav class="pager" aria-label="Pages of people">
        <span class="muted">
          {l.matching === l.rows.length
            ? countOf(l.matching, "person", "people")
            : `${formatWhole(first)}–${formatWhole(last)} of ${formatWhole(l.matching)}`}
          {l.q && ` matching “${l.q}”`}
        </span>
        {l.pages > 1 && (
          <span class="pager-links">
            <PageLink keyId={keyId} listing={l} page={l.page - 1} label="Previous" />
            <span>Page {l.page} of {l.pages}</span>
            <PageLink keyId={keyId} listing={l} page={l.page + 1} label="Next" />
          </span>
        )}
      </nav>
    </div>
  );
}

/** A link to another page of the list, or nothing past either end. */
function PageLink(
  { keyId, listing, page, label }: {
    keyId: number;
    listing: MemberListing;
    page: number;
    label: string;
  },
) {
  if (page < 1 || page > listing.pages) return null;
  const query = listingQuery({ q: listing.q, page });
  return (
    <a
      class="btn secondary small"
      href={`/keys/${keyId}${query}#members`}
      hx-get={`/keys/${keyId}/members${query}`}
      hx-target="#member-table"
      hx-swap="outerHTML"
    >
      {label}
    </a>
  );
}

/** The hidden fields that bring a plain form post back to the same page of the list. */
function BackTo({ listing }: { listing: { q: string; page: number } }) {
  return (
    <>
      <input type="hidden" name="q" value={listing.q} />
      <input type="hidden" name="page" value={String(listing.page)} />
    </>
  );
}

/** One person: their row, and below it the limits form while it is being edited. */
export function MemberEntry(
  { ctx, keyId, member: m, listing, editing }: {
    ctx: ViewContext;
    keyId: number;
    member: MemberFields;
    listing: { q: string; page: number };
    editing?: MemberEditing;
  },
) {
  const base = `/keys/${keyId}/members/${m.id}`;
  const target = `#member-${m.id}`;
  const query = listingQuery(listing);
  const unattributed = m.external_id === "";
  const rates = rateLimitTexts(m.limits);
  const action = m.blocked
    ? { path: "unblock", label: "Unblock" }
    : { path: "block", label: "Block" };
  return (
    <tbody id={`member-${m.id}`} class={editing ? "editing" : undefined}>
      <tr>
        <td class="person-cell" data-label="Person">
          <span class="person-name">{m.display_name}</span>
          {unattributed
            ? (
              <span class="person-detail muted">
                Calls that name nobody (chat titles, document embeddings)
              </span>
            )
            : (
              <>
                {m.email && m.email !== m.display_name && (
                  <span class="person-detail">{m.email}</span>
                )}
                <span class="person-detail muted">
                  id <code>{m.external_id}</code>
                  {m.role && ` · ${m.role}`}
                </span>
              </>
            )}
          <span class="person-detail muted">
            {m.last_seen_at
              ? (
                <span title={formatDateTime(m.last_seen_at, ctx.timeZone)}>
                  Seen {formatAgo(m.last_seen_at, ctx.now)}
                </span>
              )
              : "Not seen yet"}
          </span>
        </td>
        <td class="status-cell" data-label="Status">
          <span class={`badge ${m.blocked ? "blocked" : "active"}`}>
            {m.blocked ? "Blocked" : "Active"}
          </span>
          <span class="limits-source">
            {m.limits_overridden ? "Own limits" : "Key's template"}
          </span>
          {rates.length > 0 && <span class="person-detail muted">{rates.join(" · ")}</span>}
        </td>
        <td class="usage-cell" data-label="Today">
          <PeriodBars window="day" limits={m.limits} usage={m.usage} />
        </td>
        <td class="usage-cell" data-label="This month">
          <PeriodBars window="month" limits={m.limits} usage={m.usage} />
        </td>
        <td class="actions">
          {!editing && (
            <a
              class="btn secondary small"
              href={`${base}/edit${query}#member-${m.id}`}
              hx-get={`${base}/edit${query}`}
              hx-target={target}
              hx-swap="outerHTML"
            >
              Limits<span class="visually-hidden">of “{m.display_name}”</span>
            </a>
          )}
          <form
            method="post"
            action={`${base}/${action.path}`}
            hx-post={`${base}/${action.path}`}
            hx-target={target}
            hx-swap="outerHTML"
          >
            <CsrfField token={ctx.csrf} />
            <BackTo listing={listing} />
            <button type="submit" class={`btn ${m.blocked ? "secondary" : "danger"} small`}>
              {action.label}
              <span class="visually-hidden">“{m.display_name}”</span>
            </button>
          </form>
        </td>
      </tr>
      {editing && (
        <MemberLimitsRow
          ctx={ctx}
          keyId={keyId}
          member={m}
          listing={listing}
          form={editing.form}
        />
      )}
    </tbody>
  );
}

/** The form values of a person's limits as the form shows them. */
export function memberFormValues(m: MemberFields): Record<string, string> {
  return Object.fromEntries(
    MEMBER_KINDS.map((k) => {
      const n = m.limits[k.field];
      return [memberField(k.field), n === null ? "" : String(n)];
    }),
  );
}

/** The inline form of a person's own limits, with the way back to the key's template. */
function MemberLimitsRow(
  { ctx, keyId, member: m, listing, form }: {
    ctx: ViewContext;
    keyId: number;
    member: MemberFields;
    listing: { q: string; page: number };
    form?: FormState;
  },
) {
  const values = form?.values ?? memberFormValues(m);
  const errors = form?.errors ?? {};
  const base = `/keys/${keyId}/members/${m.id}`;
  const prefix = `member-${m.id}-`;
  const hint = `${prefix}limits-hint`;
  return (
    <tr class="edit-row">
      <td colspan={5}>
        <form
          method="post"
          action={base}
          hx-post={base}
          hx-target={`#member-${m.id}`}
          hx-swap="outerHTML"
          aria-label={`Limits of “${m.display_name}”`}
        >
          <CsrfField token={ctx.csrf} />
          <BackTo listing={listing} />
          <p class="hint" id={hint}>
            {m.limits_overridden
              ? "This person has limits of their own. "
              : "This person has the key's template. Saving gives them these limits of their own. "}
            Empty = no limit for them; 0 blocks them.
          </p>
          <div class="form-grid cols-3 numbers">
            {MEMBER_KINDS.map((k) => (
              <Field
                idPrefix={prefix}
                name={memberField(k.field)}
                label={k.label}
                type="number"
                min="0"
                inputmode="numeric"
                placeholder="unlimited"
                value={values[memberField(k.field)]}
                error={errors[memberField(k.field)]}
                describedBy={hint}
                autofocus={k === MEMBER_KINDS[0]}
              />
            ))}
          </div>
          <div class="form-actions">
            <button type="submit" class="btn primary small">Save limits</button>
            {m.limits_overridden && (
              <button
                type="submit"
                class="btn secondary small"
                formaction={`${base}/reset`}
                hx-post={`${base}/reset`}
              >
                Back to the key's template
              </button>
            )}
            <a
              class="btn ghost small"
              href={`/keys/${keyId}${listingQuery(listing)}#member-${m.id}`}
              hx-get={`${base}/row${listingQuery(listing)}`}
              hx-target={`#member-${m.id}`}
              hx-swap="outerHTML"
            >
              Cancel
            </a>
          </div>
        </form>
      </td>
    </tr>
  );
}
