/**
 * The Usage page: requests and tokens over time (stacked by model or key), headline figures, the
 * top keys against their quotas, who hit a limit today, and how fast each model answers. It
 * renders what it is given; the route reads the rollups.
 * @module
 */
import type { TimeRange } from "../core/analytics/range_presets.ts";
import type { UsageSummary } from "../core/analytics/summary.ts";
import type { UsageCounters } from "../core/analytics/types.ts";
import { LIMIT_KINDS, type LimitField, type LimitKind } from "../core/limits.ts";
import { AnalyticsFilters, type FiltersProps, queryHref } from "./analytics_filters.tsx";
import type { ChartSeries } from "./charts/series.ts";
import { StackedChart } from "./charts/stacked_chart.tsx";
import { formatCount, formatWhole } from "./format.ts";
import { type KeyRow, USAGE_COLUMNS, UsageCell, usedOf } from "./key_usage.tsx";
import { Notice, PageHeader } from "./parts.tsx";
import { NEAR_SHARE } from "./usage_bar.tsx";
import type { ViewContext } from "./view_context.ts";

/** The id of the part of the page the filters swap. */
export const USAGE_BODY = "usage-body";

/** A model's line in the speed table. */
export interface ModelUsage {
  model: string;
  summary: UsageSummary;
}

/** A key's line in the top keys table; `key` is null for a deleted key. */
export interface TopKey {
  id: number;
  name: string;
  requests: number;
  tokens: number;
  key: KeyRow | null;
}

/** A key that was refused today, with its refusals by cause. */
export interface LimitHit {
  id: number;
  name: string;
  counters: UsageCounters;
}

/** What the page shows for a valid range. */
export interface UsageData {
  range: TimeRange;
  periods: number[];
  by: "model" | "key";
  requests: ChartSeries[];
  tokens: ChartSeries[];
  summary: UsageSummary;
  models: ModelUsage[];
  topKeys: TopKey[];
  limitHits: LimitHit[];
}

/** Everything the Usage page shows; `data` is null when the filters are wrong. */
export interface UsagePageProps {
  ctx: ViewContext;
  filters: Omit<FiltersProps, "path" | "target" | "timeZone">;
  data: UsageData | null;
}

/** A latency as a histogram bound: "≤ 250 ms", "≤ 2.5 s", "> 5 min"; "–" for none. */
export function formatBound(ms: number | null): string {
  if (ms === null) return "–";
  if (ms === Infinity) return "> 5 min";
  return `≤ ${formatDuration(ms)}`;
}

/** A duration: "85 ms", "1.2 s", "2 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0).replace(/\.0$/, "")} s`;
  return `${(ms / 60_000).toFixed(ms < 600_000 ? 1 : 0).replace(/\.0$/, "")} min`;
}

/** A share as a percentage: "3.2 %", "0 %"; "–" for none. */
export function formatShare(share: number | null): string {
  if (share === null) return "–";
  if (share === 0) return "0 %";
  const pct = share * 100;
  return `${pct < 10 ? pct.toFixed(1) : Math.round(pct)} %`;
}

/** A generation speed: "42.5 tok/s", "1,000 tok/s"; "–" for none. */
export function formatSpeed(tokensPerSecond: number | null): string {
  if (tokensPerSecond === null) return "–";
  const n = tokensPerSecond < 100
    ? tokensPerSecond.toFixed(1)
    : formatWhole(Math.round(tokensPerSecond));
  return `${n} tok/s`;
}

/** The whole Usage page content. */
export function UsagePage(p: UsagePageProps) {
  return (
    <>
      <PageHeader title="Usage">
        Who used the box, which models, when, and how fast it answered. Read from totals counted per
        15 minutes as requests settle; days and hours are in {p.ctx.timeZone}.
      </PageHeader>
      <UsageBody {...p} />
    </>
  );
}

/** The filters and everything below them (the fragment the filters swap). */
export function UsageBody(p: UsagePageProps) {
  const d = p.data;
  return (
    <div id={USAGE_BODY}>
      <AnalyticsFilters
        {...p.filters}
        path="/usage"
        target={USAGE_BODY}
        timeZone={p.ctx.timeZone}
      />
      {d === null
        ? (
          <Notice kind="error" alert>
            These filters name no range: fix the fields marked above.
          </Notice>
        )
        : d.summary.requests === 0
        ? <EmptyUsage keyFiltered={p.filters.query.key_id !== "" || p.filters.query.model !== ""} />
        : <UsageSections ctx={p.ctx} data={d} query={p.filters.query} />}
    </div>
  );
}

function EmptyUsage({ keyFiltered }: { keyFiltered: boolean }) {
  return (
    <section class="card">
      <p class="empty">
        {keyFiltered
          ? "Nothing was counted for these filters in this range."
          : "No usage in this range yet. Requests show up here as soon as they are answered or refused; "}
        {!keyFiltered && <a href="/proxy">see Proxy info</a>}
        {!keyFiltered && " for how clients connect."}
      </p>
    </section>
  );
}

function UsageSections(
  { ctx, data: d, query }: {
    ctx: ViewContext;
    data: UsageData;
    query: UsagePageProps["filters"]["query"];
  },
) {
  const chart = {
    periods: d.periods,
    endMs: d.range.toMs,
    resolution: d.range.resolution,
    timeZone: ctx.timeZone,
    stackedBy: d.by,
  };
  const byHref = (by: string) => queryHref("/usage", { ...query, by: by === "model" ? "" : by });
  return (
    <>
      <Stats s={d.summary} />
      <section class="card" aria-labelledby="over-time-title">
        <div class="card-head">
          <h2 id="over-time-title">Over time</h2>
          <nav class="segmented" aria-label="Stack the charts by">
            {(["model", "key"] as const).map((by) => (
              <a
                href={byHref(by)}
                hx-get={byHref(by)}
                hx-target={`#${USAGE_BODY}`}
                hx-swap="outerHTML"
                hx-push-url="true"
                aria-current={d.by === by ? "true" : undefined}
              >
                By {by}
              </a>
            ))}
          </nav>
        </div>
        <StackedChart
          id="chart-requests"
          title="Requests"
          unit="request"
          series={d.requests}
          {...chart}
        />
        <StackedChart
          id="chart-tokens"
          title="Tokens (prompt and completion)"
          unit="token"
          series={d.tokens}
          {...chart}
        />
        <p class="chart-export">
          <a
            class="btn secondary small"
            href={queryHref("/usage/export", { ...query, by: "" })}
            download
          >
            Export these numbers (CSV)
          </a>{" "}
          <span class="hint">
            per {d.range.resolution === "15m" ? "15 minutes" : d.range.resolution}, key and model
          </span>
        </p>
      </section>
      <div class="usage-columns">
        <TopKeys keys={d.topKeys} />
        <LimitHits hits={d.limitHits} />
      </div>
      <ModelSpeeds models={d.models} />
    </>
  );
}

/** The headline figures as tiles. */
function Stats({ s }: { s: UsageSummary }) {
  const tiles: Array<[string, string, string]> = [
    ["Requests", formatCount(s.requests), "answered, refused or failed"],
    ["Tokens", formatCount(s.tokens), "prompt and completion"],
    ["Refused", formatShare(s.refusalRate), "of requests were refused by a limit or rule"],
    ["Errors", formatShare(s.errorRate), "of requests failed at Ollama or were malformed"],
    ["Latency p50 / p95", `${formatBound(s.p50Ms)} / ${formatBound(s.p95Ms)}`, "whole request"],
    [
      "First byte p50 / p95",
      `${formatBound(s.ttfbP50Ms)} / ${formatBound(s.ttfbP95Ms)}`,
      "time to the first byte of the answer",
    ],
    [
      "Generation",
      formatSpeed(s.tokensPerSecond),
      "completion tokens per second of Ollama's eval time",
    ],
    ["Cold loads", formatWhole(s.coldLoads), "model loads that took over 1 s"],
  ];
  return (
    <section aria-label="Totals of the range">
      <dl class="stats">
        {tiles.map(([label, value, hint]) => (
          <div class="stat">
            <dt>{label}</dt>
            <dd>
              <span class="stat-value">{value}</span>
              <span class="stat-hint">{hint}</span>
            </dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

/** What share of each of a key's limits it has used now, fullest first; empty: no limits. */
export function quotaShares(k: KeyRow): Array<{ share: number; kind: LimitKind }> {
  const shares: Array<{ share: number; kind: LimitKind }> = [];
  for (const kind of LIMIT_KINDS as ReadonlyArray<LimitKind>) {
    const limit = k[kind.field as LimitField];
    if (limit === null || limit === undefined) continue;
    shares.push({ share: limit === 0 ? 1 : usedOf(kind, k) / limit, kind });
  }
  return shares.sort((a, b) => b.share - a.share);
}

function TopKeys({ keys }: { keys: TopKey[] }) {
  const columns = USAGE_COLUMNS.filter((c) => c.id !== "now");
  // Hono renders to a string once: a key would only be printed as an attribute.
  // deno-lint-ignore jsx-key
  const columnHeads = columns.map((c) => <th scope="col">{c.label}</th>);
  // deno-lint-ignore jsx-key
  const deleted = columns.map((c) => <td data-label={c.label} class="muted">Deleted</td>);
  return (
    <section class="card" aria-labelledby="top-keys-title">
      <h2 id="top-keys-title">Top keys</h2>
      <p class="hint section-lead">
        Most requests in the range; their quotas as they stand today and this month.
      </p>
      <div class="table-wide">
        <table class="top-keys">
          <caption class="visually-hidden">
            Keys with the most requests in the range, and how much of each quota they have used
          </caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col" class="num">Requests</th>
              <th scope="col" class="num">Tokens</th>
              {columnHeads}
              <th scope="col">Of each quota</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((t) => {
              const shares = t.key ? quotaShares(t.key) : [];
              return (
                <tr>
                  <td data-label="Key">
                    {t.key
                      ? <a class="key-name" href={`/keys/${t.id}`}>{t.name}</a>
                      : <span class="key-name muted">{t.name}</span>}
                  </td>
                  <td data-label="Requests" class="num">{formatWhole(t.requests)}</td>
                  <td data-label="Tokens" class="num">{formatWhole(t.tokens)}</td>
                  {t.key ? columns.map((c) => UsageCell({ column: c, keyRow: t.key! })) : deleted}
                  <td data-label="Of each quota" class="quota-shares">
                    {shares.length === 0 ? <span class="muted">No limits</span> : (
                      <ul>
                        {shares.map(({ share, kind }) => (
                          <li
                            class={share >= 1 ? "full" : share >= NEAR_SHARE ? "near" : undefined}
                          >
                            <span class="share">{formatShare(share)}</span>{" "}
                            <span class="muted">of {kind.unit}</span>
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function LimitHits({ hits }: { hits: LimitHit[] }) {
  return (
    <section class="card" aria-labelledby="limit-hits-title">
      <h2 id="limit-hits-title">Limits hit today</h2>
      {hits.length === 0
        ? <p class="empty">Nobody was refused today.</p>
        : (
          <table class="limit-hits">
            <caption class="visually-hidden">
              Keys refused today, by which kind of limit refused them
            </caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col" class="num">Refused</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {hits.map((h) => {
                const c = h.counters;
                const causes = [
                  [c.refused_requests, "request limits"],
                  [c.refused_tokens, "token limits"],
                  [c.refused_concurrent, "requests at a time"],
                  [c.refused_other, "model list or block"],
                ] as const;
                return (
                  <tr>
                    <td data-label="Key">
                      <a class="key-name" href={`/keys/${h.id}`}>{h.name}</a>
                    </td>
                    <td data-label="Refused" class="num">{formatWhole(c.refused)}</td>
                    <td data-label="By">
                      <span>
                        {causes.filter(([n]) => n > 0).map(([n, what]) => (
                          <span class="cause">{formatWhole(n)} {what}</span>
                        ))}
                      </span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
    </section>
  );
}

function ModelSpeeds({ models }: { models: ModelUsage[] }) {
  const ms = (v: number | null) => v === null ? "–" : formatDuration(v);
  return (
    <section class="card" aria-labelledby="models-speed-title">
      <h2 id="models-speed-title">Models: speed and load</h2>
      <p class="hint section-lead">
        Latency percentiles are exact to the bucket of a fixed histogram (≤ 250 ms means the bucket
        from 100 to 250 ms). Load, prefill and decode are Ollama's own times, averaged over the
        requests it reported them for; a cold load is one that took over 1 s.
      </p>
      <div class="table-wide">
        <table class="model-speeds">
          <caption class="visually-hidden">
            Per model: requests, latency and time to first byte percentiles, Ollama's load, prefill
            and decode times, generation speed and cold loads
          </caption>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col" class="num">Requests</th>
              <th scope="col" class="num">Latency p50 / p95</th>
              <th scope="col" class="num">First byte p50 / p95</th>
              <th scope="col" class="num">Load</th>
              <th scope="col" class="num">Prefill</th>
              <th scope="col" class="num">Decode</th>
              <th scope="col" class="num">Speed</th>
              <th scope="col" class="num">Cold loads</th>
            </tr>
          </thead>
          <tbody>
            {models.map(({ model, summary: s }) => (
              <tr>
                <td data-label="Model">
                  <code>{model}</code>
                </td>
                <td data-label="Requests" class="num">{formatWhole(s.requests)}</td>
                <td data-label="Latency p50 / p95" class="num">
                  {formatBound(s.p50Ms)} / {formatBound(s.p95Ms)}
                </td>
                <td data-label="First byte p50 / p95" class="num">
                  {formatBound(s.ttfbP50Ms)} / {formatBound(s.ttfbP95Ms)}
                </td>
                <td data-label="Load" class="num">{ms(s.loadMs)}</td>
                <td data-label="Prefill" class="num">{ms(s.prefillMs)}</td>
                <td data-label="Decode" class="num">{ms(s.decodeMs)}</td>
                <td data-label="Speed" class="num">
                  {formatSpeed(s.tokensPerSecond)}
                </td>
                <td data-label="Cold loads" class="num">{formatWhole(s.coldLoads)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
