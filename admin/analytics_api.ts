/**
 * The admin JSON API of usage analytics: usage rollups, the request log, exports. Routes are
 * thin: core/analytics/params.ts parses (bad input: 400 naming the parameter), the store
 * answers from rollups (usage) or by keyset pages (requests), core formats exports.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { encodeCursor } from "../core/analytics/cursor.ts";
import {
  exportFileName,
  primed,
  requestExportStream,
  usageExportStream,
} from "../core/analytics/export_stream.ts";
import {
  parseExportParams,
  parseRequestParams,
  parseUsageParams,
  type RawParams,
} from "../core/analytics/params.ts";
import { AnalyticsInputError, localIso } from "../core/analytics/range.ts";
import { AdminError } from "./errors.ts";

function badInput(err: unknown): never {
  if (err instanceof AnalyticsInputError) throw new AdminError(400, err.message, err.param);
  if (err instanceof RangeError) throw new AdminError(400, err.message);
  throw err;
}

/** Runs a parse, turning bad input into the admin API's 400 naming the parameter. */
function input<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    badInput(err);
  }
}

/** Awaits a store read the same way: an answer too large to give is a 400 too. */
async function answer<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (err) {
    badInput(err);
  }
}

const raw = (c: Context): RawParams => c.req.query();

/** The analytics routes (mounted under /api, behind the admin bearer check). */
export function createAnalyticsApi(deps: Deps): Hono {
  const api = new Hono();
  const tz = deps.config.timeZone;

  api.get("/usage", async (c) => {
    const q = input(() => parseUsageParams(raw(c), tz, deps.clock.now()));
    const rows = await answer(deps.store.usage(q));
    return c.json({
      from: localIso(q.fromMs, tz),
      to: localIso(q.toMs, tz),
      time_zone: tz,
      group_by: q.groupBy,
      rows,
    });
  });

  api.get("/requests", async (c) => {
    const q = input(() => parseRequestParams(raw(c), tz, deps.clock.now()));
    // One row more than asked says whether there is a next page, without counting anything.
    const rows = await deps.store.requestLog({ ...q, limit: q.limit + 1 });
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return c.json({
      from: localIso(q.fromMs, tz),
      to: localIso(q.toMs, tz),
      time_zone: tz,
      rows: page.map((r) => ({ ...r, started_at_local: localIso(Date.parse(r.started_at), tz) })),
      next_cursor: rows.length > q.limit && last ? encodeCursor(q, last) : null,
    });
  });

  api.get("/export", async (c) => {
    const e = input(() => parseExportParams(raw(c), tz, deps.clock.now()));
    const body = await answer(primed(
      e.dataset === "usage"
        ? usageExportStream(e.query, e.format, (q) => deps.store.usage(q))
        : requestExportStream(e.query, e.format, tz, (q) => deps.store.requestLog(q)),
    ));
    const name = exportFileName(e.dataset, e.format, e.query.fromMs, e.query.toMs, tz);
    return c.body(body, 200, {
      "content-type": e.format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson",
      "content-disposition": `attachment; filename="${name}"`,
    });
  });

  return api;
}
