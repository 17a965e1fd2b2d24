/**
 * The Keys page: create a key, see every key's usage against its limits, edit, switch off, delete.
 * Its parts are also the fragments htmx swaps: the create section, the table, one key's rows.
 * @module
 */
import type { KeyFilter } from "../core/key_filter.ts";
import { type CreatedKey, CreateKeySection } from "./create_key.tsx";
import type { FormState } from "./form_state.ts";
import type { GroupChoice } from "./group_field.tsx";
import { type Editing, KeyEntry } from "./key_entry.tsx";
import { type KeyRow, USAGE_COLUMNS } from "./key_usage.tsx";
import { PageHeader } from "./parts.tsx";
import type { ViewContext } from "./view_context.ts";

/** Everything the Keys page shows. */
export interface KeysPageProps {
  ctx: ViewContext;
  keys: KeyRow[];
  filter: KeyFilter;
  create?: FormState;
  created?: CreatedKey;
  editing?: Editing;
  /** Every group, for the create form's group choice. */
  groups?: GroupChoice[];
}

/** The whole Keys page content. */
export function KeysPage(p: KeysPageProps) {
  return (
    <>
      <PageHeader title="API keys">
        Hand out a key per person or app, with limits per day, month and minute, the models it may
        use and caps on what one request may ask of Ollama. Usage counts from midnight and from the
        1st of the month in {p.ctx.timeZone}.
      </PageHeader>
      <CreateKeySection ctx={p.ctx} form={p.create} created={p.created} groups={p.groups} />
      <KeyList ctx={p.ctx} keys={p.keys} filter={p.filter} editing={p.editing} />
    </>
  );
}

/** The filter bar and the table of keys. */
export function KeyList(
  { ctx, keys, filter, editing, oob }: {
    ctx: ViewContext;
    keys: KeyRow[];
    filter: KeyFilter;
    editing?: Editing;
    /** Sent next to another fragment, replacing the list in place (htmx out-of-band swap). */
    oob?: boolean;
  },
) {
  return (
    <section
      id="key-list"
      class="card"
      aria-labelledby="key-list-title"
      hx-swap-oob={oob ? "true" : undefined}
    >
      <div class="card-head">
        <h2 id="key-list-title">Keys</h2>
        <form
          class="filters"
          method="get"
          action="/keys"
          role="search"
          hx-get="/keys"
          hx-target="#key-table"
          hx-swap="outerHTML"
          hx-trigger="input delay:250ms from:#filter-name, change from:#filter-status, submit"
          hx-sync="this:replace"
          hx-push-url="true"
        >
          <label for="filter-name" class="visually-hidden">Filter by name</label>
          <input
            id="filter-name"
            name="name"
            type="search"
            placeholder="Filter by name"
            value={filter.name}
            autocomplete="off"
          />
          <label for="filter-status" class="visually-hidden">Filter by status</label>
          <select id="filter-status" name="status">
            {[
              ["all", "All statuses"],
              ["active", "Active"],
              ["deactivated", "Deactivated"],
              ["expired", "Expired"],
              ["idle", "Idle too long"],
            ].map(([value, label]) => (
              <option value={value} selected={filter.status === value}>{label}</option>
            ))}
          </select>
          <button type="submit" class="btn secondary small">Filter</button>
        </form>
      </div>
      <KeyTable ctx={ctx} keys={keys} filter={filter} editing={editing} />
    </section>
  );
}

/** The table of keys (the fragment the filter swaps), or a line saying there is none. */
export function KeyTable(
  { ctx, keys, filter, editing }: {
    ctx: ViewContext;
    keys: KeyRow[];
    filter: KeyFilter;
    editing?: Editing;
  },
) {
  const filtered = filter.name !== "" || filter.status !== "all";
  // Hono renders to a string once: a key would only be printed as an attribute.
  // deno-lint-ignore jsx-key
  const usageHeads = USAGE_COLUMNS.map((column) => <th scope="col">{column.label}</th>);
  return (
    <div id="key-table">
      {keys.length === 0
        ? (
          <p class="empty">
            {filtered
              ? "No key matches this filter."
              : "No keys yet. Create the first one above; it takes a few seconds."}
          </p>
        )
        : (
          <table class="keys">
            <caption class="visually-hidden">
              API keys with today's, this month's and this minute's usage against their limits
            </caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Status</th>
                {usageHeads}
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            {keys.map((key) => (
              <KeyEntry
                ctx={ctx}
                keyView={key}
                editing={editing?.id === key.id ? editing : undefined}
              />
            ))}
          </table>
        )}
    </div>
  );
}
