/**
 * The Requests page: GET /requests, the request log with the range and filters in the query
 * string, paged by a keyset cursor. htmx requests get the page's body, plain loads the page.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { queryHref } from "../views/analytics_filters.tsx";
import {
  type RequestPage,
  RequestsBody,
  RequestsPage,
  type RequestsPageProps,
} from "../views/requests_page.tsx";
import { checkAnalyticsQuery } from "./analytics_query.ts";
import { decodeCursor, encodeCursor } from "./request_cursor.ts";
import { renderFragment, renderPage, viewContext } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";
import type { UiEnv } from "./ui_env.ts";
import { keyOptions, valuesIn } from "./usage_data.ts";

/** Requests on one page of the log. */
export const REQUESTS_PER_PAGE = 50;

/** Builds GET /requests (behind the session guard). */
export function createRequestRoutes(deps: Deps, perPage = REQUESTS_PER_PAGE): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  app.get("/requests", async (c) => {
    const tz = deps.config.timeZone;
    const checked = checkAnalyticsQuery(c.req.query(), deps.clock.now(), tz, "7d");
    const before = checked.cursor === "" ? undefined : decodeCursor(checked.cursor);
    if (before === null) checked.errors.cursor = "This page link is broken: start from the newest";
    const range = before === null ? null : checked.range;
    const keys = await keyOptions(deps);
    let page: RequestPage | null = null;
    let models: string[] = [];
    let routes: string[] = [];
    if (range) {
      const f = checked.filter;
      const [rows, m, r] = await Promise.all([
        // One more than shown: whether there is an older page, without counting anything.
        deps.store.requestLog({
          fromMs: range.fromMs,
          toMs: range.toMs,
          keyId: f.keyId,
          model: f.model,
          route: f.route,
          status: f.status,
          before: before ?? undefined,
          limit: perPage + 1,
        }),
        valuesIn(deps, range, "model", f.keyId),
        valuesIn(deps, range, "route", f.keyId),
      ]);
      const shown = rows.slice(0, perPage);
      const last = shown.at(-1);
      page = {
        rows: shown,
        older: rows.length > perPage && last
          ? encodeCursor({ startedAt: last.started_at, id: last.id })
          : null,
        paged: before !== undefined,
      };
      models = m;
      routes = r;
    }
    const { cursor: _cursor, ...filters } = { ...checked.query, cursor: "" };
    const props: RequestsPageProps = {
      ctx: viewContext(c, deps),
      filters: {
        query: checked.query,
        preset: range?.preset,
        errors: checked.errors,
        keys,
        models,
        routes,
      },
      page,
      exportHref: queryHref("/requests/export", { ...filters, by: "" }),
    };
    const status = range ? undefined : 422;
    if (wantsFragment(c)) return renderFragment(c, <RequestsBody {...props} />, status);
    return renderPage(
      c,
      { title: "Requests", active: "requests", status },
      <RequestsPage {...props} />,
    );
  });
  return app;
}
