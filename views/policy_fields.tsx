/**
 * A key's policy as form fields, shared by the create form and the inline edit form: the limits
 * per day and month, then, folded away until needed, the models, the rate and the caps. The
 * limit fields are one loop over core/limits.ts LIMIT_KINDS.
 * @module
 */
import { CAP_FIELDS, type CapField, type KeyFields } from "../core/api_keys.ts";
import { LIMIT_KINDS, type LimitFields, type LimitKind } from "../core/limits.ts";
import type { Window } from "../core/model.ts";
import { Field } from "./parts.tsx";

/** The form group a limit kind is shown in, by its window. */
const GROUP_OF: Record<Window, "quota" | "rate"> = {
  day: "quota",
  month: "quota",
  minute: "rate",
  none: "rate",
};

const limitsIn = (group: "quota" | "rate"): LimitKind[] =>
  LIMIT_KINDS.filter((k) => GROUP_OF[k.window] === group);

/** Labels and plain-language help of the caps. */
const CAPS: Record<CapField, { label: string; hint: string }> = {
  max_output_tokens: {
    label: "Longest answer (tokens)",
    hint: "Ollama stops an answer after this many tokens, on every route.",
  },
  max_num_ctx: {
    label: "Largest context (num_ctx)",
    hint: "Clients cannot ask Ollama for a bigger context; longer prompts are refused.",
  },
  idle_days: {
    label: "Idle after (days)",
    hint: "A key unused this long stops working until it is activated again.",
  },
};

/** A policy in flat fields: a key's (with caps) or a group's (without). */
export type FlatPolicy =
  & LimitFields
  & Pick<KeyFields, "models">
  & Partial<Pick<KeyFields, CapField>>;

/**
 * The form values of a policy: numbers as text, "" for none, the models comma-separated. A
 * group's has no caps.
 */
export function policyFormValues(policy: FlatPolicy): Record<string, string> {
  const values: Record<string, string> = {
    models: policy.models === null ? "" : policy.models.join(", "),
  };
  for (const name of [...LIMIT_KINDS.map((k) => k.field), ...CAP_FIELDS]) {
    if (!(name in policy)) continue;
    const n = policy[name];
    values[name] = n === null || n === undefined ? "" : String(n);
  }
  return values;
}

/** The fields folded under "Models, rate and caps" (a group's fold has no caps). */
const FOLDED = ["models", ...limitsIn("rate").map((k) => k.field)];

/** A number field of the policy. */
function NumberField(
  p: {
    name: string;
    label: string;
    min: "0" | "1";
    placeholder: string;
    values: Record<string, string>;
    errors: Record<string, string>;
    idPrefix: string;
    describedBy?: string;
    hint?: string;
  },
) {
  return (
    <Field
      idPrefix={p.idPrefix}
      name={p.name}
      label={p.label}
      type="number"
      min={p.min}
      inputmode="numeric"
      placeholder={p.placeholder}
      value={p.values[p.name]}
      error={p.errors[p.name]}
      describedBy={p.describedBy}
      hint={p.hint}
    />
  );
}

/**
 * Every policy field of a key: the day and month limits in view, the models, rate and caps in a
 * disclosure that is open when one of them is set or has an error. A group's policy (`caps`
 * false) has the limits and models only; `owner` names who the hints speak of.
 */
export function PolicyFields(
  { values, errors, idPrefix = "", caps = true, owner = "key" }: {
    values: Record<string, string>;
    errors: Record<string, string>;
    idPrefix?: string;
    caps?: boolean;
    owner?: "key" | "group";
  },
) {
  const limitsHint = `${idPrefix}limits-hint`;
  const rateHint = `${idPrefix}rate-hint`;
  const folded = caps ? [...FOLDED, ...CAP_FIELDS] : FOLDED;
  // Open when something in it is set (an entry with an error is one: empty is always valid).
  const set = folded.filter((name) => (values[name] ?? "").trim() !== "").length;
  const open = set > 0;
  const common = { values, errors, idPrefix };
  return (
    <>
      <fieldset class="limits">
        <legend>Limits</legend>
        <p class="hint" id={limitsHint}>
          {owner === "key"
            ? "Leave a limit empty for unlimited; 0 blocks the key. Tokens count prompt and answer."
            : "Shared by every key of the group, on top of each key's own limits. Empty = unlimited; 0 blocks the group."}
        </p>
        <div class="form-grid cols-4 numbers">
          {limitsIn("quota").map((k) => (
            <NumberField
              {...common}
              name={k.field}
              label={k.label}
              min="0"
              placeholder="unlimited"
              describedBy={limitsHint}
            />
          ))}
        </div>
      </fieldset>
      <details class="policy-more" open={open}>
        <summary>
          {caps ? "Models, rate and caps" : "Models and rate"}{" "}
          <span class="muted">{set === 0 ? "(none set)" : `(${set} set)`}</span>
        </summary>
        <fieldset class="limits">
          <legend>Models</legend>
          <Field
            idPrefix={idPrefix}
            name="models"
            label="Allowed models"
            rows={2}
            placeholder="every model"
            value={values.models}
            error={errors.models}
            hint="Empty = every model. Separate names with commas: llama3 (= llama3:latest), qwen3:8b, or qwen3:* for every tag of qwen3."
          />
        </fieldset>
        <fieldset class="limits">
          <legend>Rate</legend>
          <p class="hint" id={rateHint}>
            {owner === "key"
              ? "Keeps one key from taking the whole GPU: requests and tokens per minute, and requests running at once. Empty = no limit."
              : "Per minute and at a time, for all of the group's keys together. Empty = no limit."}
          </p>
          <div class="form-grid cols-3 numbers">
            {limitsIn("rate").map((k) => (
              <NumberField
                {...common}
                name={k.field}
                label={k.label}
                min="0"
                placeholder="unlimited"
                describedBy={rateHint}
              />
            ))}
          </div>
        </fieldset>
        {caps && (
          <fieldset class="limits">
            <legend>Caps</legend>
            <p class="hint">
              What one request may ask of Ollama, and how long a key may lie unused. Empty = none.
            </p>
            <div class="form-grid cols-3">
              {CAP_FIELDS.map((name) => (
                <NumberField
                  {...common}
                  name={name}
                  label={CAPS[name].label}
                  min="1"
                  placeholder="none"
                  hint={CAPS[name].hint}
                />
              ))}
            </div>
          </fieldset>
        )}
      </details>
    </>
  );
}
