/**
 * The range picker and filters the Usage and Requests pages share: preset links (today, 24 hours,
 * 7, 30, 90 days) and a plain GET form with dates, key, model and (for requests) route and
 * status. Everything works without JavaScript; with htmx the form and links swap the page's body.
 * @module
 */
import { RANGE_PRESETS } from "../core/analytics/range_presets.ts";
import { recordedModel } from "../core/analytics/recorded_model.ts";
import type { RequestStatus } from "../core/analytics/types.ts";

/** The query of an analytics page as entered (what the form shows again). */
export interface AnalyticsQuery {
  range: string;
  from: string;
  to: string;
  key_id: string;
  model: string;
  route: string;
  status: string;
  /** Usage page: what the charts stack by. */
  by: string;
}

/** A choice of key in the filters. */
export interface KeyOption {
  id: number;
  name: string;
}

/** The statuses the request log filters by, with their labels. */
export const STATUS_OPTIONS: ReadonlyArray<{ id: RequestStatus; label: string }> = [
  { id: "ok", label: "Answered" },
  { id: "refused", label: "Refused" },
  { id: "error", label: "Error" },
  { id: "disconnected", label: "Client left" },
  { id: "pending", label: "In progress" },
];

/** Props of the filter bar. */
export interface FiltersProps {
  /** The page's path: /usage or /requests. */
  path: string;
  /** The swapped element's id (the page body). */
  target: string;
  query: AnalyticsQuery;
  /** The preset in force; none when dates were entered (or they are wrong). */
  preset?: string;
  errors: Record<string, string>;
  keys: readonly KeyOption[];
  models: readonly string[];
  /** Routes to choose from; absent: no route and status filters (the Usage page). */
  routes?: readonly string[];
  timeZone: string;
}

/** The query string of a page with some of its parameters changed (empty ones left out). */
export function queryHref(path: string, q: Partial<AnalyticsQuery> & { cursor?: string }): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(q)) if (value) params.set(name, value);
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** The filters kept when the range changes. */
function kept(q: AnalyticsQuery, routes: boolean): Partial<AnalyticsQuery> {
  return routes
    ? { key_id: q.key_id, model: q.model, route: q.route, status: q.status }
    : { key_id: q.key_id, model: q.model, by: q.by };
}

/** The range picker and the filter form. */
export function AnalyticsFilters(p: FiltersProps) {
  const q = p.query;
  const e = p.errors;
  const withRoutes = p.routes !== undefined;
  const swap = { "hx-target": `#${p.target}`, "hx-swap": "outerHTML", "hx-push-url": "true" };
  // A model entered in another spelling (`llama3`) selects the one recorded (`llama3:latest`).
  const chosen = q.model === "" || p.models.includes(q.model)
    ? q.model
    : p.models.find((m) => m === recordedModel(q.model)) ?? q.model;
  const models = chosen && !p.models.includes(chosen) ? [chosen, ...p.models] : p.models;
  const routes = q.route && p.routes && !p.routes.includes(q.route)
    ? [q.route, ...p.routes]
    : p.routes ?? [];
  const invalid = (name: string) => e[name] ? "true" : undefined;
  // Hono renders to a string once: a key would only be printed as an attribute.
  // deno-lint-ignore jsx-key
  const modelOptions = models.map((m) => <option value={m} selected={chosen === m}>{m}</option>);
  // deno-lint-ignore jsx-key
  const routeOptions = routes.map((r) => <option value={r} selected={q.route === r}>{r}</option>);
  return (
    <div class="analytics-filters card">
      <nav class="range-presets segmented" aria-label="Time range">
        {RANGE_PRESETS.map((r) => {
          const href = queryHref(p.path, { range: r.id, ...kept(q, withRoutes) });
          return (
            <a
              href={href}
              hx-get={href}
              {...swap}
              aria-current={p.preset === r.id ? "true" : undefined}
            >
              {r.label}
            </a>
          );
        })}
      </nav>
      {(e.range || e.by || e.cursor) && (
        <p class="field-error" role="alert">{e.range ?? e.by ?? e.cursor}</p>
      )}
      <form class="filter-form" method="get" action={p.path} hx-get={p.path} {...swap}>
        {p.preset && <input type="hidden" name="range" value={p.preset} />}
        {!withRoutes && q.by && <input type="hidden" name="by" value={q.by} />}
        <div class={`field${e.from ? " invalid" : ""}`}>
          <label for="f-from">From</label>
          <input
            id="f-from"
            name="from"
            type="date"
            value={p.preset ? "" : q.from}
            aria-invalid={invalid("from")}
            aria-describedby={e.from ? "f-from-error" : undefined}
          />
          {e.from && <p class="field-error" id="f-from-error">{e.from}</p>}
        </div>
        <div class={`field${e.to ? " invalid" : ""}`}>
          <label for="f-to">To</label>
          <input
            id="f-to"
            name="to"
            type="date"
            value={p.preset ? "" : q.to}
            aria-invalid={invalid("to")}
            aria-describedby={e.to ? "f-to-error" : undefined}
          />
          {e.to && <p class="field-error" id="f-to-error">{e.to}</p>}
        </div>
        <div class={`field${e.key_id ? " invalid" : ""}`}>
          <label for="f-key">Key</label>
          <select
            id="f-key"
            name="key_id"
            aria-invalid={invalid("key_id")}
            aria-describedby={e.key_id ? "f-key-error" : undefined}
          >
            <option value="">All keys</option>
            {p.keys.map((k) => (
              <option value={String(k.id)} selected={q.key_id === String(k.id)}>{k.name}</option>
            ))}
          </select>
          {e.key_id && <p class="field-error" id="f-key-error">{e.key_id}</p>}
        </div>
        <div class={`field${e.model ? " invalid" : ""}`}>
          <label for="f-model">Model</label>
          <select id="f-model" name="model" aria-invalid={invalid("model")}>
            <option value="">All models</option>
            {modelOptions}
          </select>
          {e.model && <p class="field-error">{e.model}</p>}
        </div>
        {withRoutes && (
          <div class={`field${e.route ? " invalid" : ""}`}>
            <label for="f-route">Route</label>
            <select id="f-route" name="route" aria-invalid={invalid("route")}>
              <option value="">All routes</option>
              {routeOptions}
            </select>
            {e.route && <p class="field-error">{e.route}</p>}
          </div>
        )}
        {withRoutes && (
          <div class={`field${e.status ? " invalid" : ""}`}>
            <label for="f-status">Status</label>
            <select id="f-status" name="status" aria-invalid={invalid("status")}>
              <option value="">Any status</option>
              {STATUS_OPTIONS.map((s) => (
                <option value={s.id} selected={q.status === s.id}>{s.label}</option>
              ))}
            </select>
            {e.status && <p class="field-error">{e.status}</p>}
          </div>
        )}
        <div class="filter-actions">
          <button type="submit" class="btn primary">Apply</button>
          <a class="btn ghost" href={p.path}>Reset</a>
        </div>
      </form>
      <p class="hint" id="f-dates-hint">
        From and To are days in {p.timeZone}, both included; dates replace the range above.
      </p>
    </div>
  );
}
