/**
 * The Ollama boxes page: each box's state (healthy, ejected until …, saturated), its models
 * (installed and loaded), requests in flight and the queue; forms to add, change, disable and
 * delete boxes, which work with and without JavaScript.
 * @module
 */
import type { UpstreamStatusView } from "../core/upstreams/status_view.ts";
import type { FormState } from "./form_state.ts";
import { countOf } from "./format.ts";
import { CsrfField, EditActions, EditForm, Field, Notice, PageHeader } from "./parts.tsx";
import type { ViewContext } from "./view_context.ts";

/** The box being edited in place, with what was entered when a save failed. */
export interface BoxEditing {
  id: number;
  form?: FormState;
}

/** Everything the page shows. */
export interface UpstreamsPageProps {
  ctx: ViewContext;
  boxes: UpstreamStatusView[];
  /** Requests waiting for a box (all boxes at capacity). */
  queueDepth: number;
  create?: FormState;
  editing?: BoxEditing;
  /** A line about what was just done (added, changed, deleted). */
  done?: string;
}

/** The whole page content. */
export function UpstreamsPage(p: UpstreamsPageProps) {
  return (
    <>
      <PageHeader title="Ollama boxes">
        The Ollama servers the gateway sends requests to. With several, a request goes to a box that
        has its model (loaded first), and waits in a queue fair across keys when every such box is
        at its limit. Changes apply at once, no restart needed.
      </PageHeader>
      <UpstreamsContent {...p} />
    </>
  );
}

/** What a change swaps (htmx): the notice, the list and the add form. */
export function UpstreamsContent(p: UpstreamsPageProps) {
  return (
    <div id="upstreams">
      {p.done && <Notice kind="success">{p.done}</Notice>}
      <BoxList {...p} />
      <AddBoxSection ctx={p.ctx} form={p.create} />
    </div>
  );
}

const STATE_TEXT: Record<UpstreamStatusView["state"], string> = {
  healthy: "Healthy",
  ejected: "Ejected",
  trial: "On trial",
  saturated: "Saturated",
  disabled: "Disabled",
  unprobed: "Not checked yet",
};

/** The badge colour of each state (admin.css). */
const BADGE: Record<UpstreamStatusView["state"], string> = {
  healthy: "active",
  ejected: "expired",
  trial: "info",
  saturated: "idle",
  disabled: "deactivated",
  unprobed: "info",
};

function stateText(b: UpstreamStatusView, ctx: ViewContext): string {
  if (!b.routed && b.enabled) return "Takes every request";
  if (b.state === "ejected" && b.ejected_until) {
    // Ejections last seconds to minutes: the time to the second, and how long is left.
    const until = new Intl.DateTimeFormat("en-GB", {
      timeZone: ctx.timeZone,
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }).format(new Date(b.ejected_until));
    const left = Math.max(
      0,
      Math.ceil((Date.parse(b.ejected_until) - ctx.now.epochMilliseconds) / 1000),
    );
    return `Ejected until ${until} (${left} s)`;
  }
  if (b.state === "saturated") return `Saturated (takes ${b.saturated_to ?? 0} now)`;
  if (b.state === "healthy" && b.failures > 0) {
    return `Failing (${countOf(b.failures, "failure")} in a row)`;
  }
  return STATE_TEXT[b.state];
}

/** The badge of a box that still takes requests but failed lately: a warning colour. */
function badgeOf(b: UpstreamStatusView): string {
  return b.state === "healthy" && b.failures > 0 ? "idle" : BADGE[b.state];
}

function BoxList({ ctx, boxes, queueDepth, editing }: UpstreamsPageProps) {
  const routed = boxes.some((b) => b.routed);
  return (
    <section id="box-list" aria-labelledby="box-list-title">
      <h2 id="box-list-title" class="section-title">
        {boxes.length === 0 ? "Boxes" : `Boxes (${boxes.length})`}
      </h2>
      {routed && (
        <p class="muted" id="queue-depth">
          {queueDepth === 0
            ? "No request is waiting for a box."
            : `${countOf(queueDepth, "request")} waiting for a box.`}
        </p>
      )}
      {boxes.length === 0
        ? (
          <p class="card empty">
            No Ollama box yet: requests get 502 until one is added below.
          </p>
        )
        : boxes.map((b) => (
          <BoxCard ctx={ctx} box={b} editing={editing?.id === b.id ? editing : undefined} />
        ))}
    </section>
  );
}

/** One box: its state and models, or, while edited, its form. */
export function BoxCard(
  { ctx, box: b, editing }: { ctx: ViewContext; box: UpstreamStatusView; editing?: BoxEditing },
) {
  const id = `box-${b.id}`;
  return (
    <article id={id} class="card box" aria-labelledby={`${id}-name`}>
      <div class="card-head">
        <h3 id={`${id}-name`} class="box-name">{b.name}</h3>
        <span class={`badge ${badgeOf(b)}`}>{stateText(b, ctx)}</span>
        {!editing && <BoxActions ctx={ctx} box={b} />}
      </div>
      {editing ? <BoxForm ctx={ctx} box={b} form={editing.form} /> : <BoxFacts box={b} />}
    </article>
  );
}

function BoxActions({ ctx, box: b }: { ctx: ViewContext; box: UpstreamStatusView }) {
  return (
    <div class="box-actions">
      <a
        class="btn secondary small"
        href={`/upstreams/${b.id}/edit`}
        hx-get={`/upstreams/${b.id}/edit`}
        hx-target={`#box-${b.id}`}
        hx-swap="outerHTML"
      >
        Edit<span class="visually-hidden">“{b.name}”</span>
      </a>
      <form
        method="post"
        action={`/upstreams/${b.id}/enabled`}
        hx-post={`/upstreams/${b.id}/enabled`}
        hx-target="#upstreams"
        hx-swap="outerHTML"
      >
        <CsrfField token={ctx.csrf} />
        <input type="hidden" name="enabled" value={b.enabled ? "no" : "yes"} />
        <button type="submit" class="btn secondary small">
          {b.enabled ? "Disable" : "Enable"}
          <span class="visually-hidden">“{b.name}”</span>
        </button>
      </form>
      <a
        class="btn danger small"
        href={`/upstreams/${b.id}/delete`}
        hx-post={`/upstreams/${b.id}/delete`}
        hx-confirm={`Delete the Ollama box “${b.name}”? Requests stop going to it at once.`}
        hx-target="#upstreams"
        hx-swap="outerHTML"
      >
        Delete<span class="visually-hidden">“{b.name}”</span>
      </a>
    </div>
  );
}

function BoxFacts({ box: b }: { box: UpstreamStatusView }) {
  const limit = b.max_in_flight === null ? "no limit" : `at most ${b.max_in_flight}`;
  return (
    <dl class="facts">
      <div>
        <dt>URL</dt>
        <dd>
          <code>{b.url}</code>
          {b.has_token && (b.token_unreadable
            ? <span class="field-warning">token unreadable: enter it again</span>
            : <span class="muted">with a bearer token</span>)}
        </dd>
      </div>
      <div>
        <dt>In flight</dt>
        <dd>{b.in_flight} ({limit})</dd>
      </div>
      {b.routed && (
        <div>
          <dt>Models</dt>
          <dd>
            {b.models === null
              ? <span class="muted">not read yet</span>
              : b.models.length === 0
              ? <span class="muted">none installed</span>
              : (
                <ul class="key-chips">
                  {b.models.map((m) => (
                    <li>
                      <code>{m}</code>
                    </li>
                  ))}
                </ul>
              )}
          </dd>
        </div>
      )}
      {b.routed && (
        <div>
          <dt>Loaded</dt>
          <dd>
            {b.loaded.length === 0
              ? <span class="muted">nothing loaded</span>
              : (
                <ul class="key-chips">
                  {b.loaded.map((m) => (
                    <li>
                      <code>{m.name}</code>
                      {m.context_length !== null && (
                        <span class="muted">context {m.context_length}</span>
                      )}
                    </li>
                  ))}
                </ul>
              )}
          </dd>
        </div>
      )}
      {b.routed && (
        <div>
          <dt>Ollama</dt>
          <dd>
            {b.version === null ? <span class="muted">version not read yet</span> : b.version}
            {b.ejections > 0 && <span class="muted">{countOf(b.ejections, "ejection")}</span>}
          </dd>
        </div>
      )}
      {b.error && (
        <div>
          <dt>Last error</dt>
          <dd class="field-error">{b.error}</dd>
        </div>
      )}
    </dl>
  );
}

/** The fields of a box's form, from a box (or empty for a new one). */
export function boxFormValues(b?: UpstreamStatusView): Record<string, string> {
  if (!b) return { name: "", url: "", token: "", max_in_flight: "1", enabled: "yes" };
  return {
    name: b.name,
    url: b.url,
    token: "",
    max_in_flight: b.max_in_flight === null ? "" : String(b.max_in_flight),
    enabled: b.enabled ? "yes" : "",
  };
}

function BoxFields(
  { v, e, prefix, box }: {
    v: Record<string, string>;
    e: Record<string, string>;
    prefix: string;
    box?: UpstreamStatusView;
  },
) {
  return (
    <>
      <Field
        idPrefix={prefix}
        name="url"
        label="URL"
        type="url"
        inputmode="url"
        value={v.url}
        error={e.url}
        hint={box?.url.includes("***@")
          ? "Ollama's base URL; *** stands for the stored user name and password, kept while it stays"
          : "Ollama's base URL, e.g. http://gpu2:11434"}
        required
      />
      <Field
        idPrefix={prefix}
        name="name"
        label="Name"
        value={v.name}
        error={e.name}
        hint={box
          ? "Shown in logs, metrics and the request log."
          : "Shown in logs, metrics and the request log. Empty: its host and port."}
        required={box !== undefined}
      />
      <Field
        idPrefix={prefix}
        name="max_in_flight"
        label="Requests at once"
        type="number"
        inputmode="numeric"
        min="1"
        value={v.max_in_flight}
        error={e.max_in_flight}
        hint="The box's OLLAMA_NUM_PARALLEL (Ollama's default is 1). Empty: no limit at the gateway."
      />
      <Field
        idPrefix={prefix}
        name="token"
        label="Bearer token"
        type="password"
        autocomplete="new-password"
        value=""
        error={e.token}
        hint={box?.has_token
          ? "Set; never shown. Leave empty to keep it."
          : "For a box behind a proxy that wants Authorization: Bearer …; optional, never shown."}
      />
      {box?.has_token && (
        <div class="checkbox">
          <input
            type="checkbox"
            id={`${prefix}clear_token`}
            name="clear_token"
            value="yes"
            checked={v.clear_token === "yes"}
          />
          <label for={`${prefix}clear_token`}>Remove the token</label>
        </div>
      )}
      <div class="checkbox">
        <input
          type="checkbox"
          id={`${prefix}enabled`}
          name="enabled"
          value="yes"
          checked={v.enabled === "yes"}
        />
        <label for={`${prefix}enabled`}>Enabled (takes requests)</label>
      </div>
    </>
  );
}

/** The in-place form that changes a box. */
function BoxForm(
  { ctx, box: b, form }: { ctx: ViewContext; box: UpstreamStatusView; form?: FormState },
) {
  const v = form?.values ?? boxFormValues(b);
  return (
    <EditForm action={`/upstreams/${b.id}`} target={`#box-${b.id}`} name={b.name} csrf={ctx.csrf}>
      <BoxFields v={v} e={form?.errors ?? {}} prefix={`box-${b.id}-`} box={b} />
      <EditActions
        listHref="/upstreams"
        cardHref={`/upstreams/${b.id}/card`}
        target={`#box-${b.id}`}
      />
    </EditForm>
  );
}

/** The add form. */
export function AddBoxSection({ ctx, form }: { ctx: ViewContext; form?: FormState }) {
  const v = form?.values ?? boxFormValues();
  return (
    <section id="add-box" class="card" aria-labelledby="add-box-title">
      <h2 id="add-box-title">Add an Ollama box</h2>
      <form
        method="post"
        action="/upstreams"
        hx-post="/upstreams"
        hx-target="#upstreams"
        hx-swap="outerHTML"
      >
        <CsrfField token={ctx.csrf} />
        <BoxFields v={v} e={form?.errors ?? {}} prefix="new-box-" />
        <div class="form-actions">
          <button type="submit" class="btn primary">Add box</button>
        </div>
      </form>
    </section>
  );
}

/** The confirmation step of a delete without JavaScript. */
export function DeleteBoxPage({ ctx, box: b }: { ctx: ViewContext; box: UpstreamStatusView }) {
  return (
    <>
      <PageHeader title={`Delete the Ollama box “${b.name}”?`} />
      <section class="card narrow">
        <p>
          Requests stop going to <code>{b.url}</code>{" "}
          at once; those running on it finish. This cannot be undone (add it again to bring it back,
          or disable it instead).
        </p>
        <form method="post" action={`/upstreams/${b.id}/delete`} class="form-actions">
          <CsrfField token={ctx.csrf} />
          <button type="submit" class="btn danger solid">Delete box</button>
          <a class="btn ghost" href="/upstreams">Cancel</a>
        </form>
      </section>
    </>
  );
}
