/**
 * A key's per-person settings, on its page: whether (and how) it tells the people behind Open
 * WebUI apart, whose word it takes, the JWT secret (write-only: set, replace or clear, never
 * shown), the limits each person gets, and what happens to calls that name nobody.
 * @module
 */
import { headerField, memberField } from "./form_fields.ts";
import type { DelegationView } from "../core/delegation.ts";
import { type IdentityHeaders, OPENWEBUI_HEADERS } from "../core/model.ts";
import type { FormState } from "./form_state.ts";
import { MEMBER_KINDS } from "./members.tsx";
import { CsrfField, Field, Notice } from "./parts.tsx";
import type { ViewContext } from "./view_context.ts";

/** The header names, their labels and the Open WebUI setting that renames each. */
export const HEADER_SETTINGS: Array<{ name: keyof IdentityHeaders; label: string; env: string }> = [
  { name: "user_id", label: "User id", env: "FORWARD_USER_INFO_HEADER_USER_ID" },
  { name: "email", label: "Email", env: "FORWARD_USER_INFO_HEADER_USER_EMAIL" },
  { name: "name", label: "Name", env: "FORWARD_USER_INFO_HEADER_USER_NAME" },
  { name: "role", label: "Role", env: "FORWARD_USER_INFO_HEADER_USER_ROLE" },
  { name: "chat_id", label: "Chat id", env: "FORWARD_SESSION_INFO_HEADER_CHAT_ID" },
  { name: "jwt", label: "Signed token", env: "FORWARD_USER_INFO_HEADER_JWT" },
];

/** The form values of a key's delegation (never its secret, which is not readable anyway). */
export function delegationFormValues(d: DelegationView): Record<string, string> {
  const values: Record<string, string> = {
    identity: d.identity ?? "",
    trusted_peers: d.trusted_peers.join("\n"),
    on_missing_identity: d.on_missing_identity,
  };
  for (const h of HEADER_SETTINGS) {
    const name = d.identity_headers[h.name];
    values[headerField(h.name)] = name === OPENWEBUI_HEADERS[h.name] ? "" : name;
  }
  for (const k of MEMBER_KINDS) {
    const n = d.member_limits[k.field];
    values[memberField(k.field)] = n === null ? "" : String(n);
  }
  return values;
}

const MODES = [
  {
    value: "",
    label: "No: one quota for everyone using the key",
    hint:
      "An ordinary key. Choosing this and saving forgets the settings below (the people seen so far and their usage stay).",
  },
  {
    value: "openwebui-jwt",
    label: "Yes, from Open WebUI's signed token (recommended)",
    hint:
      "Open WebUI signs who is asking with a secret it shares with the gateway. Someone who gets hold of the key still cannot pretend to be another person.",
  },
  {
    value: "openwebui-headers",
    label: "Yes, from Open WebUI's plain headers",
    hint:
      "For Open WebUI versions without the signed token. The gateway believes the headers: anyone who holds the key and can reach the gateway from a trusted address below can claim to be anyone.",
  },
] as const;

/** The per-person section of a key's page (its form swaps the page's body: key_page.tsx). */
export function DelegationSection(
  { ctx, keyId, delegation: d, form, saved }: {
    ctx: ViewContext;
    keyId: number;
    delegation: DelegationView;
    form?: FormState;
    saved?: boolean;
  },
) {
  const values = form?.values ?? delegationFormValues(d);
  const errors = form?.errors ?? {};
  const prefix = "delegation-";
  const headersChanged = HEADER_SETTINGS.some((h) =>
    (values[headerField(h.name)] ?? "") !== "" || errors[headerField(h.name)]
  );
  const templateHint = `${prefix}template-hint`;
  return (
    <section id="delegation" class="card" aria-labelledby="delegation-title">
      <h2 id="delegation-title">Per-person quotas (Open WebUI)</h2>
      {saved && (
        <Notice kind="success">
          Saved. The next request with this key uses these settings.{" "}
          {d.identity && <a href={`/proxy#openwebui-key-${keyId}`}>What to set in Open WebUI</a>}
        </Notice>
      )}
      {errors.form && <Notice kind="error" alert>{errors.form}</Notice>}
      <p class="hint section-lead">
        When Open WebUI reaches the gateway with this one key for everybody, the key can tell the
        people apart and give each of them their own quota, on top of the key's limits.{" "}
        {d.identity && (
          <a href={`/proxy#openwebui-key-${keyId}`}>
            The settings to make in Open WebUI are on the Proxy info page.
          </a>
        )}
      </p>
      <form
        class="delegation"
        method="post"
        action={`/keys/${keyId}/delegation`}
        hx-post={`/keys/${keyId}/delegation`}
        hx-target="#key-page"
        hx-swap="outerHTML"
      >
        <CsrfField token={ctx.csrf} />
        <fieldset class="choices">
          <legend>Tell people apart?</legend>
          {MODES.map((m) => {
            const id = `${prefix}identity-${m.value || "off"}`;
            return (
              <div class="choice">
                <input
                  type="radio"
                  id={id}
                  name="identity"
                  value={m.value}
                  checked={(values.identity ?? "") === m.value}
                  aria-describedby={`${id}-hint`}
                />
                <label for={id}>{m.label}</label>
                <p class="hint" id={`${id}-hint`}>{m.hint}</p>
              </div>
            );
          })}
          {errors.identity && <p class="field-error">{errors.identity}</p>}
        </fieldset>
        <div class="delegation-settings">
          <Field
            idPrefix={prefix}
            name="trusted_peers"
            label="Trusted addresses"
            rows={2}
            value={values.trusted_peers}
            error={errors.trusted_peers}
            hint="Where Open WebUI connects from, as the gateway sees it: IP addresses or ranges, separated by commas or lines. 127.0.0.1/32 and ::1/128 are this machine; Open WebUI in Docker comes from its network, e.g. 172.17.0.0/16. With this key, requests from anywhere else are refused."
          />
          <SecretField d={d} values={values} errors={errors} prefix={prefix} />
          <fieldset class="limits">
            <legend>Each person's limits</legend>
            <p class="hint" id={templateHint}>
              What every person gets, unless you give them limits of their own in the list below.
              Empty = no limit; 0 blocks everyone.
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
                  describedBy={templateHint}
                />
              ))}
            </div>
          </fieldset>
          <fieldset class="choices">
            <legend>Calls that name nobody</legend>
            <p class="hint">
              Open WebUI makes some calls on its own: chat titles, embeddings of uploaded documents.
            </p>
            {[
              {
                value: "unattributed",
                label: "Count them together, as one person called “unattributed”",
                hint: "They share one quota with the limits above.",
              },
              {
                value: "reject",
                label: "Refuse them",
                hint: "They get 401; Open WebUI's titles and document search may stop working.",
              },
            ].map((o) => {
              const id = `${prefix}missing-${o.value}`;
              return (
                <div class="choice">
                  <input
                    type="radio"
                    id={id}
                    name="on_missing_identity"
                    value={o.value}
                    checked={values.on_missing_identity === o.value}
                    aria-describedby={`${id}-hint`}
                  />
                  <label for={id}>{o.label}</label>
                  <p class="hint" id={`${id}-hint`}>{o.hint}</p>
                </div>
              );
            })}
            {errors.on_missing_identity && <p class="field-error">{errors.on_missing_identity}</p>}
          </fieldset>
          <details class="policy-more" open={headersChanged}>
            <summary>
              Header names{" "}
              <span class="muted">
                {headersChanged ? "(renamed)" : "(Open WebUI's defaults)"}
              </span>
            </summary>
            <p class="hint">
              Only if Open WebUI renamed them with its <code>FORWARD_USER_INFO_HEADER_*</code>{" "}
              settings. Empty = Open WebUI's default name.
            </p>
            <div class="form-grid cols-3">
              {HEADER_SETTINGS.map((h) => (
                <Field
                  idPrefix={prefix}
                  name={headerField(h.name)}
                  label={h.label}
                  placeholder={OPENWEBUI_HEADERS[h.name]}
                  value={values[headerField(h.name)]}
                  error={errors[headerField(h.name)]}
                  hint={h.env}
                />
              ))}
            </div>
          </details>
        </div>
        <div class="form-actions">
          <button type="submit" class="btn primary">Save per-person settings</button>
        </div>
      </form>
    </section>
  );
}

/** The JWT secret: whether one is set, a field to set or replace it, a box to clear it. */
function SecretField(
  { d, values, errors, prefix }: {
    d: DelegationView;
    values: Record<string, string>;
    errors: Record<string, string>;
    prefix: string;
  },
) {
  const has = d.has_identity_secret;
  return (
    <div class="secret-setting">
      <p class="secret-state" id={`${prefix}secret-state`}>
        <strong>Secret for the signed token:</strong>{" "}
        {has ? "set. It is never shown again; enter a new one to replace it." : "none set."}
      </p>
      <Field
        idPrefix={prefix}
        name="identity_secret"
        label={has ? "Replace the secret" : "Secret"}
        type="password"
        autocomplete="new-password"
        // Never echoed: after a failed save the field is empty again.
        value=""
        error={errors.identity_secret}
        describedBy={`${prefix}secret-state`}
        hint={has
          ? "Leave empty to keep the current secret."
          : "The same text as Open WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET, 16 characters or more. Needed for the signed token."}
      />
      {has && (
        <div class="checkbox">
          <input
            type="checkbox"
            id={`${prefix}clear_secret`}
            name="clear_secret"
            value="yes"
            checked={values.clear_secret === "yes"}
          />
          <label for={`${prefix}clear_secret`}>
            Clear the secret (only with plain headers, or when people are not told apart)
          </label>
        </div>
      )}
    </div>
  );
}
