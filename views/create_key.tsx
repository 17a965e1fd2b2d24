/**
 * The Keys page's create section: the form, and the new key's plaintext shown once.
 * @module
 */
import type { FormState } from "./form_state.ts";
import { type GroupChoice, GroupField } from "./group_field.tsx";
import { PolicyFields } from "./policy_fields.tsx";
import { CopyButton, CsrfField, Field, Notice } from "./parts.tsx";
import { ConfirmPastExpiry } from "./past_expiry.tsx";
import type { ViewContext } from "./view_context.ts";

/** A key just created: its plaintext, shown this once. */
export interface CreatedKey {
  name: string;
  key: string;
}

/** The create form, and above it the key just created. */
export function CreateKeySection(
  { ctx, form, created, groups = [] }: {
    ctx: ViewContext;
    form?: FormState;
    created?: CreatedKey;
    /** Every group, for the group choice (none: no choice). */
    groups?: GroupChoice[];
  },
) {
  const v = form?.values ?? {};
  const e = form?.errors ?? {};
  return (
    <section id="create-key" class="card" aria-labelledby="create-key-title">
      {created && <NewKeyNotice created={created} />}
      <h2 id="create-key-title">Create a key</h2>
      <form
        method="post"
        action="/keys"
        hx-post="/keys"
        hx-target="#create-key"
        hx-swap="outerHTML"
      >
        <CsrfField token={ctx.csrf} />
        <div class="form-grid cols-4">
          <Field
            name="name"
            label="Name"
            value={v.name}
            error={e.name}
            hint="Who or what uses it, e.g. “Alice’s laptop”"
            required
            class="span-3"
          />
          <Field
            name="expires_on"
            label="Valid through"
            type="date"
            value={v.expires_on}
            error={e.expires_on}
            warning={form?.warnings?.expires_on}
            hint="Empty = never expires"
          />
          <GroupField groups={groups} value={v.group_id} error={e.group_id} />
        </div>
        <PolicyFields values={v} errors={e} />
        <div class="form-actions">
          <button type="submit" class="btn primary">Create key</button>
          <ConfirmPastExpiry form={form} kind="create" />
          <span class="hint">The key is shown once, right after it is created.</span>
        </div>
      </form>
    </section>
  );
}

/** The plaintext of a new key with a copy button and the warning that it is shown only now. */
function NewKeyNotice({ created }: { created: CreatedKey }) {
  return (
    <Notice kind="success">
      <p>
        <strong>Key created for “{created.name}”.</strong>{" "}
        Copy it now: it will not be shown again, and it cannot be recovered.
      </p>
      <div class="secret">
        <label for="new-key" class="visually-hidden">New API key</label>
        <input
          id="new-key"
          class="mono"
          type="text"
          value={created.key}
          readonly
          autofocus
          data-select-on-focus
          spellcheck={false}
        />
        <CopyButton target="new-key" label="Copy key" />
      </div>
    </Notice>
  );
}
