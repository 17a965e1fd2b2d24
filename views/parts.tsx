/**
 * Small pieces the admin pages share: form fields with their errors, notices, copy buttons.
 * @module
 */
import type { Child } from "hono/jsx";

/** The hidden field that carries the session's CSRF token in a plain form POST. */
export function CsrfField({ token }: { token: string }) {
  return <input type="hidden" name="_csrf" value={token} />;
}

/** Props of a labelled input. */
export interface FieldProps {
  name: string;
  label: string;
  value?: string;
  error?: string;
  /** A valid value that is likely a mistake, shown next to the field until it is confirmed. */
  warning?: string;
  hint?: string;
  /** Makes ids unique when the same form appears more than once on a page. */
  idPrefix?: string;
  /** The id of a hint shared by several fields, e.g. "empty = unlimited" over the limits. */
  describedBy?: string;
  type?: string;
  required?: boolean;
  placeholder?: string;
  autocomplete?: string;
  inputmode?: "numeric" | "url" | "text";
  min?: string;
  autofocus?: boolean;
  class?: string;
  /** A text area of this many rows instead of a one-line input. */
  rows?: number;
}

/** A labelled input with its hint and, after a failed submit, its error next to it. */
export function Field(p: FieldProps) {
  const id = `${p.idPrefix ?? ""}${p.name}`;
  const warning = p.error ? undefined : p.warning;
  const described = [
    p.error ? `${id}-error` : "",
    warning ? `${id}-warning` : "",
    p.hint ? `${id}-hint` : "",
    p.describedBy ?? "",
  ].filter(Boolean).join(" ");
  const state = p.error ? " invalid" : warning ? " warned" : "";
  return (
    <div class={`field${state}${p.class ? ` ${p.class}` : ""}`}>
      <label for={id}>{p.label}</label>
      {p.rows
        ? (
          <textarea
            id={id}
            name={p.name}
            rows={p.rows}
            required={p.required}
            placeholder={p.placeholder}
            autocomplete={p.autocomplete ?? "off"}
            spellcheck={false}
            autofocus={p.autofocus}
            aria-invalid={p.error ? "true" : undefined}
            aria-describedby={described || undefined}
          >
            {p.value ?? ""}
          </textarea>
        )
        : (
          <input
            id={id}
            name={p.name}
            type={p.type ?? "text"}
            value={p.value ?? ""}
            required={p.required}
            placeholder={p.placeholder}
            autocomplete={p.autocomplete ?? "off"}
            inputmode={p.inputmode}
            min={p.min}
            step={p.type === "number" ? "1" : undefined}
            autofocus={p.autofocus}
            aria-invalid={p.error ? "true" : undefined}
            aria-describedby={described || undefined}
          />
        )}
      {p.hint && <p class="hint" id={`${id}-hint`}>{p.hint}</p>}
      {p.error && <p class="field-error" id={`${id}-error`}>{p.error}</p>}
      {warning && <p class="field-warning" id={`${id}-warning`}>{warning}</p>}
    </div>
  );
}

/** A coloured message box; `alert` ones are announced at once by screen readers. */
export function Notice(
  { kind, children, alert }: {
    kind: "success" | "error" | "warning" | "info";
    children?: Child;
    alert?: boolean;
  },
) {
  return <div class={`notice ${kind}`} role={alert ? "alert" : "status"}>{children}</div>;
}

/** A page's title with an optional line of explanation. */
export function PageHeader({ title, children }: { title: string; children?: Child }) {
  return (
    <div class="page-header">
      <h1>{title}</h1>
      {children && <p class="lead">{children}</p>}
    </div>
  );
}

/**
 * A button that copies the text of the element with id `target` (static/admin.js does it). It
 * starts hidden and the script reveals it, so without JavaScript nobody sees a dead button.
 */
export function CopyButton({ target, label }: { target: string; label: string }) {
  return (
    <button type="button" class="btn secondary small copy" data-copy={target} hidden>
      {label}
    </button>
  );
}

/**
 * The buttons under an inline edit form: save, and a cancel that swaps the read-only card (or
 * row) back in with htmx, or without JavaScript goes back to the list page.
 */
export function EditActions(
  { listHref, cardHref, target, children }: {
    listHref: string;
    cardHref: string;
    target: string;
    children?: Child;
  },
) {
  return (
    <div class="form-actions">
      <button type="submit" class="btn primary small">Save changes</button>
      {children}
      <a
        class="btn ghost small"
        href={listHref}
        hx-get={cardHref}
        hx-target={target}
        hx-swap="outerHTML"
      >
        Cancel
      </a>
    </div>
  );
}

/**
 * An inline edit form that posts to `action` and, with htmx, swaps its answer into `target`
 * (the card or row it edits); without JavaScript it is a plain POST.
 */
export function EditForm(
  { action, target, name, csrf, children }: {
    action: string;
    target: string;
    name: string;
    csrf: string;
    children?: Child;
  },
) {
  return (
    <form
      method="post"
      action={action}
      hx-post={action}
      hx-target={target}
      hx-swap="outerHTML"
      aria-label={`Edit “${name}”`}
    >
      <CsrfField token={csrf} />
      {children}
    </form>
  );
}
