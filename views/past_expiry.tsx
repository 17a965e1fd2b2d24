/**
 * A key's expiry date in the past is allowed (it ends the key at once) but is more often a typo,
 * so the create and edit forms ask once: a warning at the date, and a second button that keeps it.
 * A plain form post, no script: the first submit shows the warning, the second button confirms.
 * @module
 */
import { formatDate } from "./format.ts";
import type { FormState } from "./form_state.ts";

/** Which form asks: creating a key, or saving the edit of one. */
export type PastExpiryForm = "create" | "edit";

/** The form field and value the confirming button sends. */
export const CONFIRM_PAST_EXPIRY = { name: "confirm", value: "past-expiry" } as const;

const LABEL: Record<PastExpiryForm, string> = {
  create: "Create it expired",
  edit: "Save with this date",
};

/** Whether the submitted form carries the confirmation. */
export function pastExpiryConfirmed(values: Record<string, string>): boolean {
  return values[CONFIRM_PAST_EXPIRY.name] === CONFIRM_PAST_EXPIRY.value;
}

/** The warning shown at a past date (yyyy-mm-dd). */
export function pastExpiryWarning(form: PastExpiryForm, date: string): string {
  return form === "create"
    ? `${formatDate(date)} is in the past: the key would be expired from the start and refuse ` +
      `every request. Correct the date, or choose “${LABEL.create}”.`
    : `${formatDate(date)} is in the past: saving ends the key at once. Correct the date, or ` +
      `choose “${LABEL.edit}” (to pause a key, deactivate it instead).`;
}

/** The button that keeps the past date, shown only while the form warns of one. */
export function ConfirmPastExpiry(
  { form, kind, small }: { form?: FormState; kind: PastExpiryForm; small?: boolean },
) {
  if (!form?.warnings?.expires_on) return null;
  return (
    <button
      type="submit"
      class={`btn secondary${small ? " small" : ""}`}
      name={CONFIRM_PAST_EXPIRY.name}
      value={CONFIRM_PAST_EXPIRY.value}
    >
      {LABEL[kind]}
    </button>
  );
}
