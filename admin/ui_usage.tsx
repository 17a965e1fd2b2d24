/**
 * The Usage page: GET /usage with the range and filters in the query string. htmx requests get
 * the page's body (filters and sections), plain loads the whole page.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { UsageBody, UsagePage, type UsagePageProps } from "../views/usage_page.tsx";
import { checkAnalyticsQuery } from "./analytics_query.ts";
import { renderFragment, renderPage, viewContext } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";
import type { UiEnv } from "./ui_env.ts";
import { keyOptions, loadUsage, valuesIn } from "./usage_data.ts";

/** Builds GET /usage (behind the session guard). */
export function createUsageRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  app.get("/usage", async (c) => {
    const tz = deps.config.timeZone;
    const checked = checkAnalyticsQuery(c.req.query(), deps.clock.now(), tz, "7d");
    const keys = await keyOptions(deps);
    const range = checked.range;
    const [data, models] = range
      ? await Promise.all([
        loadUsage(deps, range, checked.filter, checked.by, keys),
        valuesIn(deps, range, "model", checked.filter.keyId),
      ])
      : [null, []];
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
  return app;
}
