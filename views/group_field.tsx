/**
 * The group choice of the key forms: a select of every group, or none. Without any group the
 * field is left out (a missing field leaves a key's group as it is).
 * @module
 */

/** A group as a key form offers it. */
export interface GroupChoice {
  id: number;
  name: string;
}

/** The select of groups, "No group" first; nothing while there are no groups. */
export function GroupField(
  { groups, value, error, idPrefix = "" }: {
    groups: GroupChoice[];
    /** The chosen group's id as text, "" for none. */
    value?: string;
    error?: string;
    idPrefix?: string;
  },
) {
  if (groups.length === 0) return null;
  const id = `${idPrefix}group_id`;
  const described = [error ? `${id}-error` : "", `${id}-hint`].filter(Boolean).join(" ");
  return (
    <div class={`field${error ? " invalid" : ""}`}>
      <label for={id}>Group</label>
      <select
        id={id}
        name="group_id"
        aria-invalid={error ? "true" : undefined}
        aria-describedby={described}
      >
        <option value="" selected={(value ?? "") === ""}>No group</option>
        {groups.map((g) => (
          <option value={String(g.id)} selected={value === String(g.id)}>{g.name}</option>
        ))}
      </select>
      <p class="hint" id={`${id}-hint`}>Its limits apply too, shared with its other keys</p>
      {error && <p class="field-error" id={`${id}-error`}>{error}</p>}
    </div>
  );
}
