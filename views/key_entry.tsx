/**
 * One key in the Keys table: its row of status and usage, and the inline edit form.
 * @module
 */
import { lastValidDay } from "../core/key_expiry.ts";
import type { FormState } from "./form_state.ts";
import { type GroupChoice, GroupField } from "./group_field.tsx";
import { formatAgo, formatDate, formatDateTime } from "./format.ts";
import { IdleNote, idleState } from "./idle_note.tsx";
import { type KeyRow, USAGE_COLUMNS, UsageCell } from "./key_usage.tsx";
import { CsrfField, EditActions, EditForm, Field } from "./parts.tsx";
import { ConfirmPastExpiry } from "./past_expiry.tsx";
import { PolicyFields, policyFormValues } from "./policy_fields.tsx";
import type { ViewContext } from "./view_context.ts";

/** The key being edited inline, with what was entered when a save failed. */
export interface Editing {
  id: number;
  form?: FormState;
  /** Every group, for the group choice. */
  groups?: GroupChoice[];
}

const STATUS_LABEL = {
  active: "Active",
  deactivated: "Deactivated",
  expired: "Expired",
  idle: "Idle too long",
};

/** Whether an expiry instant has passed (the key stopped working then). */
function isPast(expiresAt: string, now: Temporal.Instant): boolean {
  return Date.parse(expiresAt) <= now.epochMilliseconds;
}

/** One key: its row, and below it the edit form while it is being edited. */
export function KeyEntry(
  { ctx, keyView: k, editing }: { ctx: ViewContext; keyView: KeyRow; editing?: Editing },
) {
  const lastDay = lastValidDay(k.expires_at, ctx.timeZone);
  const target = `#key-${k.id}`;
  // An idle key is still switched on: activating it again is what restarts its clock.
  const toggle = k.status === "idle"
    ? { action: "activate", label: "Reactivate" }
    : k.active
    ? { action: "deactivate", label: "Deactivate" }
    : { action: "activate", label: "Activate" };
  const idle = idleState(ctx, k);
  // Hono renders to a string once: a key would only be printed as an attribute.
  // deno-lint-ignore jsx-key
  const usageCells = USAGE_COLUMNS.map((column) => <UsageCell column={column} keyRow={k} />);
  return (
    <tbody id={`key-${k.id}`} class={editing ? "editing" : undefined}>
      <tr>
        <td class="key-cell" data-label="Key">
          <a class="key-name" href={`/keys/${k.id}`}>{k.name}</a>
          <code class="prefix">{k.prefix}…</code>
          {(k.group || k.identity) && (
            <span class="key-tags">
              {k.group && (
                <a class="chip" href={`/groups#group-${k.group.id}`} title="The key's group">
                  <span class="visually-hidden">Group</span>
                  {k.group.name}
                </a>
              )}
              {k.identity && (
                <a
                  class="badge info"
                  href={`/keys/${k.id}#members`}
                  title="Each person behind Open WebUI has their own quota"
                >
                  Per person
                </a>
              )}
            </span>
          )}
          <span class="last-used">
            {k.last_used_at
              ? (
                <span title={formatDateTime(k.last_used_at, ctx.timeZone)}>
                  Used {formatAgo(k.last_used_at, ctx.now)}
                </span>
              )
              : <span class="muted">Never used</span>}
          </span>
        </td>
        <td class="status-cell" data-label="Status">
          <span class={`badge ${k.status}`}>{STATUS_LABEL[k.status]}</span>
          {lastDay
            ? (
              <span class="expiry" title={`Ends ${formatDateTime(k.expires_at!, ctx.timeZone)}`}>
                {/* Past is past whether or not the key is also deactivated. */}
                {isPast(k.expires_at!, ctx.now) ? "Expired on" : "Valid through"}{" "}
                {formatDate(lastDay)}
              </span>
            )
            // The idle clock says more than the lack of an expiry date.
            : !idle && <span class="expiry muted">No expiry</span>}
          {idle && <IdleNote state={idle} />}
        </td>
        {usageCells}
        <td class="actions">
          {!editing && (
            <a
              class="btn secondary small"
              href={`/keys/${k.id}/edit`}
              hx-get={`/keys/${k.id}/edit`}
              hx-target={target}
              hx-swap="outerHTML"
            >
              Edit<span class="visually-hidden">“{k.name}”</span>
            </a>
          )}
          <form
            method="post"
            action={`/keys/${k.id}/${toggle.action}`}
            hx-post={`/keys/${k.id}/${toggle.action}`}
            hx-target={target}
            hx-swap="outerHTML"
          >
            <CsrfField token={ctx.csrf} />
            <button type="submit" class="btn secondary small">
              {toggle.label}
              <span class="visually-hidden">“{k.name}”</span>
            </button>
          </form>
          <a
            class="btn danger small"
            href={`/keys/${k.id}/delete`}
            hx-post={`/keys/${k.id}/delete`}
            hx-confirm={`Delete the key “${k.name}”? Apps using it stop working at once. This cannot be undone.`}
            hx-target={target}
            hx-swap="outerHTML"
          >
            Delete<span class="visually-hidden">“{k.name}”</span>
          </a>
        </td>
      </tr>
      {editing && (
        <EditRow ctx={ctx} keyView={k} form={editing.form} groups={editing.groups ?? []} />
      )}
    </tbody>
  );
}

/** The inline form that changes a key's name, policy and expiry. */
function EditRow(
  { ctx, keyView: k, form, groups }: {
    ctx: ViewContext;
    keyView: KeyRow;
    form?: FormState;
    groups: GroupChoice[];
  },
) {
  const values = form?.values ?? {
    name: k.name,
    expires_on: lastValidDay(k.expires_at, ctx.timeZone),
    group_id: k.group_id === null ? "" : String(k.group_id),
    ...policyFormValues(k),
  };
  const errors = form?.errors ?? {};
  const prefix = `key-${k.id}-`;
  return (
    <tr class="edit-row">
      <td colspan={3 + USAGE_COLUMNS.length}>
        <EditForm
          action={`/keys/${k.id}`}
          target={`#key-${k.id}`}
          name={k.name}
          csrf={ctx.csrf}
        >
          <div class="form-grid cols-4">
            <Field
              idPrefix={prefix}
              name="name"
              label="Name"
              value={values.name}
              error={errors.name}
              required
              class="span-3"
              autofocus
            />
            <Field
              idPrefix={prefix}
              name="expires_on"
              label="Valid through"
              type="date"
              value={values.expires_on}
              error={errors.expires_on}
              warning={form?.warnings?.expires_on}
              hint="Empty = never expires"
            />
            <GroupField
              groups={groups}
              value={values.group_id}
              error={errors.group_id}
              idPrefix={prefix}
            />
          </div>
          <PolicyFields values={values} errors={errors} idPrefix={prefix} />
          <EditActions listHref="/keys" cardHref={`/keys/${k.id}/row`} target={`#key-${k.id}`}>
            <ConfirmPastExpiry form={form} kind="edit" small />
          </EditActions>
        </EditForm>
      </td>
    </tr>
  );
}
