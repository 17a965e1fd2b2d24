/**
 * The Requests page: GET /requests, the request log with the range and filters in the query
 * string, paged by a keyset cursor, and the same filter as a CSV download. htmx requests get
 * the page's body, plain loads the page.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { exportFileName, requestExportStream } from "../core/analytics/export_stream.ts";
import { type CursorPage, decodeCursor, encodeCursor } from "../core/analytics/cursor.ts";
import { MAX_PAGE } from "../core/analytics/params.ts";
import { AnalyticsInputError } from "../core/analytics/range.ts";
import type { RequestQuery } from "../core/analytics/types.ts";
import type { Deps } from "../deps.ts";
import { queryHref } from "../views/analytics_filters.tsx";
import {
  type RequestPage,
  RequestsBody,
  RequestsPage,
  type RequestsPageProps,
} from "../views/requests_page.tsx";
import { checkAnalyticsQuery, type CheckedQuery } from "./analytics_query.ts";
import { renderFragment, renderPage, viewContext } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";
import type { UiEnv } from "./ui_env.ts";
import { keyOptions, valuesIn } from "./usage_data.ts";

/** Requests on one page of the log. */
export const REQUESTS_PER_PAGE = 50;

/** The store's question of a checked query, without position and size; null when it is wrong. */
function logQuery(checked: CheckedQuery): Omit<RequestQuery, "limit"> | null {
  const range = checked.range;
  if (!range) return null;
  const f = checked.filter;
  return {
    fromMs: range.fromMs,
    toMs: range.toMs,
    keyId: f.keyId,
    model: f.model,
    route: f.route,
    status: f.status,
  };
}

/** Builds GET /requests and GET /requests/export (behind the session guard). */
export function createRequestRoutes(deps: Deps, perPage = REQUESTS_PER_PAGE): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  const tz = deps.config.timeZone;
  const check = (c: Context) => checkAnalyticsQuery(c.req.query(), deps.clock.now(), tz, "7d");

  // The cursor's page (its range is the first page's: "today" moves on while someone pages);
  // undefined without one, null when it is broken or of other filters.
  const cursorPage = (checked: CheckedQuery): CursorPage | null | undefined => {
    if (checked.cursor === "") return undefined;
    try {
      return decodeCursor(checked.cursor, checked.filter);
    } catch (err) {
      if (!(err instanceof AnalyticsInputError)) throw err;
      checked.errors.cursor = "This page link is broken: start from the newest";
      return null;
    }
  };

  // The page, or the page with the fields at fault marked (422).
  const show = async (c: Context<UiEnv>, checked: CheckedQuery) => {
    const cursor = cursorPage(checked);
    const range = cursor === null ? null : checked.range;
    const keys = await keyOptions(deps);
    let page: RequestPage | null = null;
    let models: string[] = [];
    let routes: string[] = [];
    if (range) {
      const f = checked.filter;
      const [rows, m, r] = await Promise.all([
        // One more than shown: whether there is an older page, without counting anything.
        deps.store.requestLog({ ...logQuery(checked)!, ...cursor, limit: perPage + 1 }),
        valuesIn(deps, range, "model", f.keyId),
        valuesIn(deps, range, "route", f.keyId),
      ]);
      const shown = rows.slice(0, perPage);
      const last = shown.at(-1);
      page = {
        rows: shown,
        older: rows.length > perPage && last
          ? encodeCursor({ ...logQuery(checked)!, ...cursor }, last)
          : null,
        paged: cursor !== undefined,
      };
      models = m;
      routes = r;
    }
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
      // Everything the filters match, not just this page: no cursor, no stacking.
      exportHref: queryHref("/requests/export", { ...checked.query, by: "" }),
      retentionDays: deps.config.requestLogRetentionDays,
    };
    const status = range ? undefined : 422;
    if (wantsFragment(c)) return renderFragment(c, <RequestsBody {...props} />, status);
    return renderPage(
      c,
      { title: "Requests", active: "requests", status },
      <RequestsPage {...props} />,
    );
  };

  app.get("/requests", (c) => show(c, check(c)));

  // The same rows as CSV, streamed page by page (core/analytics/export_stream.ts, as the admin
  // API's /api/export): the session is the credential here, so the browser needs no bearer.
  app.get("/requests/export", (c) => {
    const checked = check(c);
    const query = logQuery(checked);
    if (!query) return show(c, checked);
    const body = requestExportStream(
      { ...query, limit: MAX_PAGE },
      "csv",
      tz,
      (q) => deps.store.requestLog(q),
    );
    const name = exportFileName("requests", "csv", query.fromMs, query.toMs, tz);
    return c.body(body, 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${name}"`,
    });
  });

  return app;
}
