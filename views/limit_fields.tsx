/**
 * The four limit fields of a key, shared by the create form and the inline edit form.
 * @module
 */
import type { KeyView } from "../core/api_keys.ts";
import { Field } from "./parts.tsx";

/** The limit fields' names and labels, in the order they are shown. */
export const LIMITS: Array<[keyof KeyView & string, string]> = [
  ["daily_request_limit", "Requests per day"],
  ["monthly_request_limit", "Requests per month"],
  ["daily_token_limit", "Tokens per day"],
  ["monthly_token_limit", "Tokens per month"],
];

/** The four limit fields under one legend and one shared hint. */
export function LimitFields(
  { values, errors, idPrefix = "" }: {
    values: Record<string, string>;
    errors: Record<string, string>;
    idPrefix?: string;
  },
) {
  const hintId = `${idPrefix}limits-hint`;
  return (
    <fieldset class="limits">
      <legend>Limits</legend>
      <p class="hint" id={hintId}>
        Leave a limit empty for unlimited; 0 blocks the key. Tokens count prompt and answer.
      </p>
      <div class="form-grid cols-4">
        {LIMITS.map(([name, label]) => (
          <Field
            idPrefix={idPrefix}
            name={name}
            label={label}
            type="number"
            min="0"
            inputmode="numeric"
            placeholder="unlimited"
            value={values[name]}
            error={errors[name]}
            describedBy={hintId}
          />
        ))}
      </div>
    </fieldset>
  );
}
