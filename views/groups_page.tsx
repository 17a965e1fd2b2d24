/**
 * The Groups page: team budgets shared by several keys. Create a group, see its usage against
 * its limits today and this month, edit it in place, see and open its keys, delete it.
 * @module
 */
import type { GroupFields } from "../core/groups.ts";
import type { KeyUsage } from "../core/model.ts";
import type { FormState } from "./form_state.ts";
import { countOf } from "./format.ts";
import { CsrfField, EditActions, EditForm, Field, Notice, PageHeader } from "./parts.tsx";
import { PolicyFields, policyFormValues } from "./policy_fields.tsx";
import { PeriodBars, rateLimitTexts } from "./scope_usage.tsx";
import type { ViewContext } from "./view_context.ts";

/** A group as the page shows it: its fields, its keys and its usage. */
export type GroupRow = GroupFields & {
  keys: Array<{ id: number; name: string }>;
  usage: KeyUsage;
};

/** The group being edited in place, with what was entered when a save failed. */
export interface GroupEditing {
  id: number;
  form?: FormState;
}

/** Everything the Groups page shows. */
export interface GroupsPageProps {
  ctx: ViewContext;
  groups: GroupRow[];
  create?: FormState;
  created?: string;
  editing?: GroupEditing;
}

/** The whole Groups page content. */
export function GroupsPage(p: GroupsPageProps) {
  return (
    <>
      <PageHeader title="Groups">
        A group is a budget several keys share, e.g. a team's 2 million tokens a month. Each key
        keeps its own limits too: a request must fit both, and the tighter one refuses it. Put a key
        in a group in the key's edit form or on its page.
      </PageHeader>
      <CreateGroupSection ctx={p.ctx} form={p.create} created={p.created} />
      <GroupList ctx={p.ctx} groups={p.groups} editing={p.editing} />
    </>
  );
}

/** The create form, and above it a note naming the group just created. */
export function CreateGroupSection(
  { ctx, form, created }: { ctx: ViewContext; form?: FormState; created?: string },
) {
  const v = form?.values ?? {};
  const e = form?.errors ?? {};
  const prefix = "new-group-";
  return (
    <section id="create-group" class="card" aria-labelledby="create-group-title">
      {created && <Notice kind="success">Group “{created}” created.</Notice>}
      <h2 id="create-group-title">Create a group</h2>
      <form
        method="post"
        action="/groups"
        hx-post="/groups"
        hx-target="#create-group"
        hx-swap="outerHTML"
      >
        <CsrfField token={ctx.csrf} />
        <Field
          idPrefix={prefix}
          name="name"
          label="Name"
          value={v.name}
          error={e.name}
          hint="The team or project, e.g. “Research”. Refusals name it: “Team 'Research' monthly tokens used up”."
          required
          class="name-field"
        />
        <PolicyFields values={v} errors={e} idPrefix={prefix} caps={false} owner="group" />
        <div class="form-actions">
          <button type="submit" class="btn primary">Create group</button>
        </div>
      </form>
    </section>
  );
}

/** Every group, or a line saying there is none yet. */
export function GroupList(
  { ctx, groups, editing, oob }: {
    ctx: ViewContext;
    groups: GroupRow[];
    editing?: GroupEditing;
    /** Sent next to another fragment, replacing the list in place (htmx out-of-band swap). */
    oob?: boolean;
  },
) {
  return (
    <section
      id="group-list"
      aria-labelledby="group-list-title"
      hx-swap-oob={oob ? "true" : undefined}
    >
      <h2 id="group-list-title" class="section-title">
        {groups.length === 0 ? "Groups" : `Groups (${groups.length})`}
      </h2>
      {groups.length === 0
        ? (
          <p class="card empty">
            No groups yet. Without groups every key has only its own limits.
          </p>
        )
        : groups.map((g) => (
          <GroupCard ctx={ctx} group={g} editing={editing?.id === g.id ? editing : undefined} />
        ))}
    </section>
  );
}

/** One group: its usage, rate, models and keys; or, while edited, its form. */
export function GroupCard(
  { ctx, group: g, editing }: { ctx: ViewContext; group: GroupRow; editing?: GroupEditing },
) {
  const rates = rateLimitTexts(g);
  // Hono renders to a string once: a key would only be printed as an attribute.
  // deno-lint-ignore jsx-key
  const models = g.models === null ? "Every model" : g.models.map((m) => <code>{m}</code>);
  return (
    <article id={`group-${g.id}`} class="card group" aria-labelledby={`group-${g.id}-name`}>
      <div class="card-head">
        <h3 id={`group-${g.id}-name`} class="group-name">{g.name}</h3>
        {!editing && (
          <div class="group-actions">
            <a
              class="btn secondary small"
              href={`/groups/${g.id}/edit`}
              hx-get={`/groups/${g.id}/edit`}
              hx-target={`#group-${g.id}`}
              hx-swap="outerHTML"
            >
              Edit<span class="visually-hidden">“{g.name}”</span>
            </a>
            {g.keys.length === 0
              ? (
                <a
                  class="btn danger small"
                  href={`/groups/${g.id}/delete`}
                  hx-post={`/groups/${g.id}/delete`}
                  hx-confirm={`Delete the group “${g.name}”? This cannot be undone.`}
                  hx-target={`#group-${g.id}`}
                  hx-swap="outerHTML"
                >
                  Delete<span class="visually-hidden">“{g.name}”</span>
                </a>
              )
              // With keys, the confirmation page says what happens to them.
              : (
                <a class="btn danger small" href={`/groups/${g.id}/delete`}>
                  Delete<span class="visually-hidden">“{g.name}”</span>
                </a>
              )}
          </div>
        )}
      </div>
      {editing ? <GroupEditForm ctx={ctx} group={g} form={editing.form} /> : (
        <>
          <div class="group-usage">
            <div>
              <h4>Today</h4>
              <PeriodBars window="day" limits={g} usage={g.usage} />
            </div>
            <div>
              <h4>This month</h4>
              <PeriodBars window="month" limits={g} usage={g.usage} />
            </div>
          </div>
          <dl class="facts">
            <div>
              <dt>Rate</dt>
              <dd>{rates.length === 0 ? "No rate limits" : rates.join(" · ")}</dd>
            </div>
            <div>
              <dt>Models</dt>
              <dd>
                {models}
              </dd>
            </div>
            <div>
              <dt>Keys</dt>
              <dd>
                {g.keys.length === 0
                  ? (
                    <span class="muted">
                      None yet: choose this group in a key's edit form or on its page.
                    </span>
                  )
                  : (
                    <ul class="key-chips">
                      {g.keys.map((k) => (
                        <li>
                          <a class="chip" href={`/keys/${k.id}`}>{k.name}</a>
                        </li>
                      ))}
                    </ul>
                  )}
              </dd>
            </div>
          </dl>
        </>
      )}
    </article>
  );
}

/** The in-place form that changes a group's name, limits and models. */
function GroupEditForm(
  { ctx, group: g, form }: { ctx: ViewContext; group: GroupRow; form?: FormState },
) {
  const values = form?.values ?? { name: g.name, ...policyFormValues(g) };
  const errors = form?.errors ?? {};
  const prefix = `group-${g.id}-`;
  return (
    <EditForm action={`/groups/${g.id}`} target={`#group-${g.id}`} name={g.name} csrf={ctx.csrf}>
      <Field
        idPrefix={prefix}
        name="name"
        label="Name"
        value={values.name}
        error={errors.name}
        required
        autofocus
        class="name-field"
      />
      <PolicyFields values={values} errors={errors} idPrefix={prefix} caps={false} owner="group" />
      <EditActions
        listHref="/groups"
        cardHref={`/groups/${g.id}/card`}
        target={`#group-${g.id}`}
      />
    </EditForm>
  );
}

/** The ids of a group's keys as the delete confirmation carries them. */
export function detachList(g: Pick<GroupRow, "keys">): string {
  return g.keys.map((k) => k.id).sort((a, b) => a - b).join(",");
}

/** The confirmation step of a group's delete; with keys, it says they are detached. */
export function DeleteGroupPage(
  { ctx, group: g, refused }: {
    ctx: ViewContext;
    group: GroupRow;
    /** Why a delete just posted was refused: the group has keys, or other keys than confirmed. */
    refused?: "has_keys" | "keys_changed";
  },
) {
  const n = g.keys.length;
  return (
    <>
      <PageHeader title={`Delete the group “${g.name}”?`} />
      <section class="card narrow">
        {refused === "has_keys" && (
          <Notice kind="warning" alert>
            The group was not deleted: it still has {countOf(n, "key")}. Detach{" "}
            {n === 1 ? "it" : "them"} below, or move {n === 1 ? "it" : "them"}{" "}
            to another group first.
          </Notice>
        )}
        {refused === "keys_changed" && (
          <Notice kind="warning" alert>
            The group was not deleted: its keys changed since this page was shown. Check the list
            below and confirm again.
          </Notice>
        )}
        {n === 0 ? <p>The group has no keys. Deleting it cannot be undone.</p> : (
          <>
            <p>
              It still has {countOf(n, "key")}. Deleting it detaches{" "}
              {n === 1 ? "that key" : "them"}: {n === 1 ? "it keeps" : "they keep"}{" "}
              their own limits and keep working, but the group's shared limits no longer apply. This
              cannot be undone.
            </p>
            <ul class="key-chips detach-list">
              {g.keys.map((k) => (
                <li>
                  <a class="chip" href={`/keys/${k.id}`}>{k.name}</a>
                </li>
              ))}
            </ul>
          </>
        )}
        <form method="post" action={`/groups/${g.id}/delete`} class="form-actions">
          <CsrfField token={ctx.csrf} />
          {n > 0 && (
            <>
              <input type="hidden" name="force" value="true" />
              {/* Exactly these keys are detached: one added meanwhile makes the page ask again. */}
              <input type="hidden" name="detach" value={detachList(g)} />
            </>
          )}
          <button type="submit" class="btn danger solid">
            {n === 0 ? "Delete group" : `Detach ${countOf(n, "key")} and delete`}
          </button>
          <a class="btn ghost" href="/groups">Cancel</a>
        </form>
      </section>
    </>
  );
}
