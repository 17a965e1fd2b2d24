/**
 * One key in the Keys table: its row of status and usage, and the inline edit form.
 * @module
 */
import type { KeyView } from "../core/api_keys.ts";
import { lastValidDay } from "../core/key_expiry.ts";
import type { FormState } from "./form_state.ts";
import { formatAgo, formatDate, formatDateTime } from "./format.ts";
import { LimitFields, LIMITS } from "./limit_fields.tsx";
import { CsrfField, Field } from "./parts.tsx";
import { ConfirmPastExpiry } from "./past_expiry.tsx";
import { UsageBar } from "./usage_bar.tsx";
import type { ViewContext } from "./view_context.ts";

/** The key being edited inline, with what was entered when a save failed. */
export interface Editing {
  id: number;
  form?: FormState;
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
  { ctx, keyView: k, editing }: { ctx: ViewContext; keyView: KeyView; editing?: Editing },
) {
  const lastDay = lastValidDay(k.expires_at, ctx.timeZone);
  const target = `#key-${k.id}`;
  return (
    <tbody id={`key-${k.id}`} class={editing ? "editing" : undefined}>
      <tr>
        <td class="key-cell" data-label="Key">
          <span class="key-name">{k.name}</span>
          <code class="prefix">{k.prefix}…</code>
        </td>
        <td class="status-cell" data-label="Status">
          <span class={`badge ${k.status}`}>{STATUS_LABEL[k.status]}</span>
          <span class="expiry">
            {lastDay
              ? (
                <span title={`Ends ${formatDateTime(k.expires_at!, ctx.timeZone)}`}>
                  {/* Past is past whether or not the key is also deactivated. */}
                  {isPast(k.expires_at!, ctx.now) ? "Expired on" : "Valid through"}{" "}
                  {formatDate(lastDay)}
                </span>
              )
              : <span class="muted">No expiry</span>}
          </span>
        </td>
        <td class="used-cell" data-label="Last used">
          {k.last_used_at
            ? (
              <span title={formatDateTime(k.last_used_at, ctx.timeZone)}>
                {formatAgo(k.last_used_at, ctx.now)}
              </span>
            )
            : <span class="muted">Never</span>}
        </td>
        <td class="usage-cell" data-label="Today">
          <UsageBar
            label="Requests"
            what="request"
            used={k.usage.today.requests}
            limit={k.daily_request_limit}
          />
          <UsageBar
            label="Tokens"
            what="token"
            used={k.usage.today.tokens}
            limit={k.daily_token_limit}
          />
        </td>
        <td class="usage-cell" data-label="This month">
          <UsageBar
            label="Requests"
            what="request"
            used={k.usage.month.requests}
            limit={k.monthly_request_limit}
          />
          <UsageBar
            label="Tokens"
            what="token"
            used={k.usage.month.tokens}
            limit={k.monthly_token_limit}
          />
        </td>
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
            action={`/keys/${k.id}/${k.active ? "deactivate" : "activate"}`}
            hx-post={`/keys/${k.id}/${k.active ? "deactivate" : "activate"}`}
            hx-target={target}
            hx-swap="outerHTML"
          >
            <CsrfField token={ctx.csrf} />
            <button type="submit" class="btn secondary small">
              {k.active ? "Deactivate" : "Activate"}
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
      {editing && <EditRow ctx={ctx} keyView={k} form={editing.form} />}
    </tbody>
  );
}

function limitText(n: number | null): string {
  return n === null ? "" : String(n);
}

/** The inline form that changes a key's name, limits and expiry. */
function EditRow(
  { ctx, keyView: k, form }: { ctx: ViewContext; keyView: KeyView; form?: FormState },
) {
  const values = form?.values ?? {
    name: k.name,
    expires_on: lastValidDay(k.expires_at, ctx.timeZone),
    ...Object.fromEntries(LIMITS.map(([name]) => [name, limitText(k[name] as number | null)])),
  };
  const errors = form?.errors ?? {};
  const prefix = `key-${k.id}-`;
  return (
    <tr class="edit-row">
      <td colspan={6}>
        <form
          method="post"
          action={`/keys/${k.id}`}
          hx-post={`/keys/${k.id}`}
          hx-target={`#key-${k.id}`}
          hx-swap="outerHTML"
          aria-label={`Edit “${k.name}”`}
        >
          <CsrfField token={ctx.csrf} />
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
          </div>
          <LimitFields values={values} errors={errors} idPrefix={prefix} />
          <div class="form-actions">
            <button type="submit" class="btn primary small">Save changes</button>
            <ConfirmPastExpiry form={form} kind="edit" small />
            <a
              class="btn ghost small"
              href="/keys"
              hx-get={`/keys/${k.id}/row`}
              hx-target={`#key-${k.id}`}
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
