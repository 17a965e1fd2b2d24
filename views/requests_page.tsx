/**
 * The Requests page: the request log filtered by range, key, model, route and status, newest
 * first, one page at a time with an "Older" link (keyset: no page numbers, no total count), and
 * a link to export everything the filters match.
 * @module
 */
import type { RequestRow } from "../core/analytics/types.ts";
import {
  AnalyticsFilters,
  type FiltersProps,
  queryHref,
  STATUS_OPTIONS,
} from "./analytics_filters.tsx";
import { formatWhole } from "./format.ts";
import { Notice, PageHeader } from "./parts.tsx";
import { formatDuration } from "./usage_page.tsx";
import type { ViewContext } from "./view_context.ts";

/** The id of the part of the page the filters and the pager swap. */
export const REQUESTS_BODY = "requests-body";

/** One page of the log. */
export interface RequestPage {
  rows: RequestRow[];
  /** The cursor of the next (older) page; null: this is the last. */
  older: string | null;
  /** Whether this page is not the newest (a cursor was given). */
  paged: boolean;
}

/** Everything the Requests page shows; `page` is null when the filters are wrong. */
export interface RequestsPageProps {
  ctx: ViewContext;
  filters: Omit<FiltersProps, "path" | "target" | "timeZone">;
  page: RequestPage | null;
  /** Where "Export what is shown" points, with the same filters. */
  exportHref: string;
  /** How many days the log keeps a request (REQUEST_LOG_RETENTION_DAYS). */
  retentionDays: number;
}

const time = (iso: string, timeZone: string) =>
  new Intl.DateTimeFormat("en-GB", {
    timeZone,
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).format(new Date(iso));

/** The whole Requests page content. */
export function RequestsPage(p: RequestsPageProps) {
  return (
    <>
      <PageHeader title="Requests">
        Every request through the gateway, newest first, with how it ended. Times are in{" "}
        {p.ctx.timeZone}. The log keeps each request {p.retentionDays}{" "}
        days; the Usage page's totals stay after that.
      </PageHeader>
      <RequestsBody {...p} />
    </>
  );
}

/** The filters and the log (the fragment the filters and the pager swap). */
export function RequestsBody(p: RequestsPageProps) {
  return (
    <div id={REQUESTS_BODY}>
      <AnalyticsFilters
        {...p.filters}
        path="/requests"
        target={REQUESTS_BODY}
        timeZone={p.ctx.timeZone}
      />
      {p.page === null
        ? (
          <Notice kind="error" alert>
            These filters name no range: fix the fields marked above.
          </Notice>
        )
        : <RequestLog {...p} page={p.page} />}
    </div>
  );
}

const STATUS_LABEL = Object.fromEntries(STATUS_OPTIONS.map((s) => [s.id, s.label]));

function RequestLog(p: RequestsPageProps & { page: RequestPage }) {
  const { rows, older, paged } = p.page;
  const q = p.filters.query;
  const olderHref = older ? queryHref("/requests", { ...q, cursor: older }) : null;
  const newestHref = queryHref("/requests", q);
  const swap = {
    "hx-target": `#${REQUESTS_BODY}`,
    "hx-swap": "outerHTML",
    "hx-push-url": "true",
  };
  return (
    <section class="card" aria-labelledby="log-title">
      <div class="card-head">
        <h2 id="log-title">{paged ? "Older requests" : "Latest requests"}</h2>
        <a class="btn secondary small" href={p.exportHref} download>
          Export what is shown (CSV)
        </a>
      </div>
      {rows.length === 0
        ? (
          <p class="empty">
            {paged ? "No older requests match these filters." : "No request matches these filters."}
          </p>
        )
        : (
          <div class="table-wide">
            <table class="requests">
              <caption class="visually-hidden">
                Requests, newest first: when, which key and model, how each ended, tokens and time
              </caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Key</th>
                  <th scope="col">Model</th>
                  <th scope="col">Route</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">Tokens in / out</th>
                  <th scope="col" class="num">Duration</th>
                  <th scope="col" class="num">First byte</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr data-id={String(r.id)}>
                    <td data-label="Time" class="when">
                      <time datetime={r.started_at}>{time(r.started_at, p.ctx.timeZone)}</time>
                    </td>
                    <td data-label="Key" class="key-cell">
                      <a class="key-name" href={`/keys/${r.key_id}`}>{r.key_name}</a>
                    </td>
                    <td data-label="Model" class="model-cell">
                      <code>{r.model}</code>
                    </td>
                    <td data-label="Route" class="route-cell">
                      <code class="route">{r.route}</code>
                    </td>
                    <td data-label="Status" class="status-cell">
                      <span>
                        <span class={`badge outcome-${r.status}`}>
                          {STATUS_LABEL[r.status] ?? r.status}
                        </span>
                        {r.http_status !== null && <span class="muted">{r.http_status}</span>}
                        {r.refused_by && <span class="refused-by">{r.refused_by}</span>}
                      </span>
                    </td>
                    <td data-label="Tokens in / out" class="num tokens-cell">
                      <span>
                        {formatWhole(r.prompt_tokens)} / {formatWhole(r.completion_tokens)}
                        {r.estimated && (
                          <abbr class="estimated" title="Estimated: Ollama reported no count">
                            ~
                          </abbr>
                        )}
                      </span>
                    </td>
                    <td data-label="Duration" class="num">
                      {r.duration_ms === null ? "–" : formatDuration(r.duration_ms)}
                    </td>
                    <td data-label="First byte" class="num">
                      {r.ttfb_ms === null ? "–" : formatDuration(r.ttfb_ms)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      <nav class="pager" aria-label="Pages of requests">
        <span class="muted">
          {rows.length === 0 ? "" : `${formatWhole(rows.length)} shown, newest first`}
        </span>
        <span class="pager-links">
          {paged && <a href={newestHref} hx-get={newestHref} {...swap}>Newest</a>}
          {olderHref && (
            <a class="btn secondary small" rel="next" href={olderHref} hx-get={olderHref} {...swap}>
              Older
            </a>
          )}
        </span>
      </nav>
    </section>
  );
}
