/**
 * The Usage page: GET /usage with the range and filters in the query string. htmx requests get
 * the page's body (filters and sections), plain loads the whole page.
 * @module
 */
import { Hono } from "hono";
import { exportFileName, primed, usageExportStream } from "../core/analytics/export_stream.ts";
import type { Deps } from "../deps.ts";
import { UsageTooLargeError } from "../core/analytics/usage.ts";
import { UsageBody, type UsageData, UsagePage, type UsagePageProps } from "../views/usage_page.tsx";
import { checkAnalyticsQuery } from "./analytics_query.ts";
import { renderFragment, renderPage, viewContext } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";
import type { UiEnv } from "./ui_env.ts";
import { keyOptions, loadUsage, valuesIn } from "./usage_data.ts";

const TOO_LARGE = "This range has too many rows to show: choose a shorter range or one key";

/** Builds GET /usage and GET /usage/export (behind the session guard). */
export function createUsageRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  app.get("/usage", async (c) => {
    const tz = deps.config.timeZone;
    const checked = checkAnalyticsQuery(c.req.query(), deps.clock.now(), tz, "7d");
    const keys = await keyOptions(deps);
    let range = checked.range;
    let [data, models]: [UsageData | null, string[]] = [null, []];
    if (range) {
      try {
        [data, models] = await Promise.all([
          loadUsage(deps, range, checked.filter, checked.by, keys),
          valuesIn(deps, range, "model", checked.filter.keyId),
        ]);
      } catch (err) {
        // More rows than an answer may have (many keys over a long range): the form says so.
        if (!(err instanceof UsageTooLargeError)) throw err;
        checked.errors.range = TOO_LARGE;
        range = null;
      }
    }
    const props: UsagePageProps = {
      ctx: viewContext(c, deps),
      filters: {
        query: checked.query,
        preset: range?.preset,
        errors: checked.errors,
        keys,
        models,
      },
      data,
    };
    const status = range ? undefined : 422;
    if (wantsFragment(c)) return renderFragment(c, <UsageBody {...props} />, status);
    return renderPage(c, { title: "Usage", active: "usage", status }, <UsagePage {...props} />);
  });

  // The charts' numbers as CSV: per period of the chart's resolution, key and model, streamed
  // by the same core export as the admin API's /api/export?dataset=usage.
  app.get("/usage/export", async (c) => {
    const tz = deps.config.timeZone;
    const checked = checkAnalyticsQuery(c.req.query(), deps.clock.now(), tz, "7d");
    const range = checked.range;
    const refused = async () => {
      const keys = await keyOptions(deps);
      const filters = { query: checked.query, errors: checked.errors, keys, models: [] };
      const props = { ctx: viewContext(c, deps), filters, data: null };
      return renderPage(
        c,
        { title: "Usage", active: "usage", status: 422 },
        <UsagePage {...props} />,
      );
    };
    if (!range) return refused();
    const query = {
      fromMs: range.fromMs,
      toMs: range.toMs,
      timeZone: tz,
      groupBy: [range.resolution, "key", "model"] as const,
      keyId: checked.filter.keyId,
      model: checked.filter.model,
    };
    let body: ReadableStream<Uint8Array>;
    try {
      // Primed: a first slice over the row cap is the form's message, not a cut download.
      body = await primed(
        usageExportStream(
          { ...query, groupBy: [...query.groupBy] },
          "csv",
          (q) => deps.store.usage(q),
        ),
      );
    } catch (err) {
      if (!(err instanceof UsageTooLargeError)) throw err;
      checked.errors.range = TOO_LARGE;
      return refused();
    }
    return c.body(body, 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${
        exportFileName("usage", "csv", range.fromMs, range.toMs, tz)
      }"`,
    });
  });
  return app;
}
