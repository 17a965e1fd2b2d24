/**
 * A stacked chart over time, drawn on the server as SVG: bars for up to BARS_UP_TO periods,
 * step areas beyond. No script and no style attribute (the CSP allows neither): colours are CSS
 * classes of static/charts.css, geometry is SVG attributes. The plot stretches to any width
 * (preserveAspectRatio none) while the axis labels stay HTML or percent-placed text, so they
 * never scale. Every chart has a title, a description and the same numbers as a table.
 * @module
 */
import type { Resolution } from "../../core/analytics/range_presets.ts";
import { countOf, formatCount, formatWhole } from "../format.ts";
import type { ChartSeries } from "./series.ts";
import { periodName, tickIndexes, tickLabel } from "./time_labels.ts";

/** Up to this many periods a chart draws bars; more would be slivers, so it draws areas. */
export const BARS_UP_TO = 120;

/** Everything one chart draws. */
export interface StackedChartProps {
  /** Unique on the page: names the title, description and table. */
  id: string;
  title: string;
  /** The counted noun in the singular ("request", "token"). */
  unit: string;
  /** UTC ms of each period's start; `endMs` ends the last one. */
  periods: readonly number[];
  endMs: number;
  resolution: Resolution;
  timeZone: string;
  series: readonly ChartSeries[];
  /** What the layers are ("model", "key"), for the description. */
  stackedBy: string;
}

/** The height of the plot in its own units (the SVG is stretched to the CSS height). */
const PLOT_HEIGHT = 100;

/** A round top for the value axis, and the step of its four gridlines. */
export function niceScale(max: number): { top: number; step: number } {
  if (max <= 0) return { top: 4, step: 1 };
  const raw = max / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const factors = power >= 10 ? [1, 2, 2.5, 5, 10] : [1, 2, 5, 10];
  const step = Math.max(1, factors.map((f) => f * power).find((s) => s >= raw)!);
  return { top: step * 4, step };
}

/** Each period's stacked total. */
function totals(series: readonly ChartSeries[], n: number): number[] {
  const t = new Array<number>(n).fill(0);
  for (const s of series) s.values.forEach((v, i) => t[i] += v);
  return t;
}

/** The colour class of a layer: s0… by its place, one grey for "Other". */
export function layerClass(s: ChartSeries, index: number): string {
  return s.other ? "s-other" : `s${index % 8}`;
}

/** The chart's summary in words, for its <desc>: range, total and the busiest period. */
function describe(p: StackedChartProps, sums: number[]): string {
  const per = { "15m": "15 minutes", hour: "hour", day: "day" }[p.resolution];
  const total = sums.reduce((a, b) => a + b, 0);
  const n = p.periods.length;
  const first = periodName(p.periods[0], p.periods[1] ?? p.endMs, p.resolution, p.timeZone);
  const lastStart = p.periods[n - 1];
  const last = periodName(lastStart, p.endMs, p.resolution, p.timeZone);
  let text = `${p.title}, per ${per}, from ${first} to ${last}, stacked by ${p.stackedBy}. ` +
    `Total ${countOf(total, p.unit)}.`;
  if (total > 0) {
    const busiest = sums.indexOf(Math.max(...sums));
    const end = p.periods[busiest + 1] ?? p.endMs;
    text += ` Busiest: ${periodName(p.periods[busiest], end, p.resolution, p.timeZone)} with ` +
      `${countOf(sums[busiest], p.unit)}.`;
  }
  return text;
}

/** A stacked chart with its legend and its table. */
export function StackedChart(p: StackedChartProps) {
  const n = p.periods.length;
  const sums = totals(p.series, n);
  const { top, step } = niceScale(Math.max(0, ...sums));
  const y = (v: number) => PLOT_HEIGHT - (v / top) * PLOT_HEIGHT;
  const bars = n <= BARS_UP_TO;
  const ticks = tickIndexes(p.periods, p.resolution, p.timeZone);
  const gridValues = [1, 2, 3, 4].map((i) => i * step);
  const end = (i: number) => p.periods[i + 1] ?? p.endMs;
  // Hono renders to a string once: a key would only be printed as an attribute.
  // deno-lint-ignore jsx-key
  const yLabels = [...gridValues].reverse().map((v) => <span>{formatCount(v)}</span>);

  // Bars: one rect per non-empty layer of each period, its tooltip in a <title>.
  const barLayers = () => {
    const base = new Array<number>(n).fill(0);
    return p.series.map((s, si) => (
      <g class={layerClass(s, si)}>
        {s.values.map((v, i) => {
          if (v === 0) return null;
          const y0 = base[i];
          base[i] += v;
          return (
            <rect x={i + 0.12} y={y(y0 + v)} width={0.76} height={y(y0) - y(y0 + v)}>
              <title>
                {`${periodName(p.periods[i], end(i), p.resolution, p.timeZone)} · ${s.name}: ${
                  countOf(v, p.unit)
                }`}
              </title>
            </rect>
          );
        })}
      </g>
    ));
  };

  // Step areas: one path per layer between its lower and upper edge.
  const areaLayers = () => {
    const base = new Array<number>(n).fill(0);
    return p.series.map((s, si) => {
      const lower = [...base];
      s.values.forEach((v, i) => base[i] += v);
      const upper = base;
      let d = `M0 ${y(upper[0])}`;
      for (let i = 0; i < n; i++) d += `H${i + 1}` + (i + 1 < n ? `V${y(upper[i + 1])}` : "");
      d += `V${y(lower[n - 1])}`;
      for (let i = n - 1; i >= 0; i--) d += `H${i}` + (i > 0 ? `V${y(lower[i - 1])}` : "");
      // Hono renders to a string once: a key would only be printed as an attribute.
      // deno-lint-ignore jsx-key
      return <path class={layerClass(s, si)} d={`${d}Z`} />;
    });
  };

  return (
    <figure class="chart" aria-labelledby={`${p.id}-caption`}>
      <figcaption id={`${p.id}-caption`} class="chart-caption">{p.title}</figcaption>
      <ul class="legend" aria-label={`Legend: ${p.stackedBy}s`}>
        {p.series.map((s, si) => (
          <li>
            <span class={`swatch ${layerClass(s, si)}`} aria-hidden="true"></span>
            <span class="legend-name">{s.name}</span>{" "}
            <span class="muted">{formatCount(s.values.reduce((a, b) => a + b, 0))}</span>
          </li>
        ))}
      </ul>
      <div class="chart-frame">
        <div class="y-axis" aria-hidden="true">
          {yLabels}
          <span>0</span>
        </div>
        <svg
          class="plot"
          viewBox={`0 0 ${n} ${PLOT_HEIGHT}`}
          preserveAspectRatio="none"
          role="img"
          aria-labelledby={`${p.id}-title ${p.id}-desc`}
        >
          <title id={`${p.id}-title`}>{p.title}</title>
          <desc id={`${p.id}-desc`}>{describe(p, sums)}</desc>
          {gridValues.map((v) => (
            <line
              class="grid"
              x1="0"
              x2={n}
              y1={y(v)}
              y2={y(v)}
              vector-effect="non-scaling-stroke"
            />
          ))}
          {bars ? barLayers() : areaLayers()}
          <line
            class="baseline"
            x1="0"
            x2={n}
            y1={PLOT_HEIGHT}
            y2={PLOT_HEIGHT}
            vector-effect="non-scaling-stroke"
          />
        </svg>
        <svg class="x-axis" aria-hidden="true">
          {ticks.map((i, k) => {
            // Bars are labelled at their middle, areas at the period's start.
            const at = ((bars ? i + 0.5 : i) / n) * 100;
            const anchor = at < 4 ? "start" : at > 96 ? "end" : "middle";
            return (
              <text
                x={`${at.toFixed(2)}%`}
                y="14"
                text-anchor={anchor}
                class={k % 2 === 1 ? "alt" : undefined}
              >
                {tickLabel(p.periods[i], p.resolution, p.timeZone)}
              </text>
            );
          })}
        </svg>
      </div>
      <ChartTable {...p} sums={sums} />
    </figure>
  );
}

/** The chart's numbers as a table, folded: the periods with anything counted. */
function ChartTable(p: StackedChartProps & { sums: number[] }) {
  const rows = p.periods.map((ms, i) => ({ ms, i })).filter(({ i }) => p.sums[i] > 0);
  const end = (i: number) => p.periods[i + 1] ?? p.endMs;
  // Hono renders to a string once: a key would only be printed as an attribute.
  // deno-lint-ignore jsx-key
  const heads = p.series.map((s) => <th scope="col" class="num">{s.name}</th>);
  // deno-lint-ignore jsx-key
  const cells = (i: number) => p.series.map((s) => <td class="num">{formatWhole(s.values[i])}</td>);
  return (
    <details class="chart-table">
      <summary>Show the numbers as a table</summary>
      {rows.length === 0
        ? <p class="muted">Nothing was counted in this range.</p>
        : (
          <div class="table-scroll">
            <table id={`${p.id}-table`}>
              <caption class="visually-hidden">
                {p.title} per period, by {p.stackedBy}; periods without any are left out
              </caption>
              <thead>
                <tr>
                  <th scope="col">Period</th>
                  {heads}
                  <th scope="col" class="num">Total</th>
                </tr>
              </thead>
              <tbody>
                {rows.map(({ ms, i }) => (
                  <tr>
                    <th scope="row">{periodName(ms, end(i), p.resolution, p.timeZone)}</th>
                    {cells(i)}
                    <td class="num">{formatWhole(p.sums[i])}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
    </details>
  );
}
