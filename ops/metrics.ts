/**
 * A small Prometheus registry: counters, gauges and histograms with fixed label names, rendered
 * in the text exposition format (version 0.0.4).
 *
 * Built for the hot path: a labelled child is looked up once per request (`labels(...)` caches it
 * by its values) and holds plain numbers, so recording is a map lookup and an addition.
 * @module
 */

/** Something the registry can render. */
interface Metric {
  render(): string;
}

/** Escapes a label value: backslash, double quote and line feed, as the format requires. */
function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** Escapes HELP text: backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** Renders a sample value; the format spells infinities `+Inf`/`-Inf`. */
function formatValue(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i])}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Children of one metric, keyed by their label values. */
abstract class Family<C> implements Metric {
  #children = new Map<string, { values: string[]; child: C }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly type: "counter" | "gauge" | "histogram",
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${name}`);
  }

  protected abstract create(): C;
  protected abstract sample(values: string[], child: C): string;

  /** The child for these label values (created at first use, then reused). */
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values`);
    }
    // A separator that cannot occur in label values we produce keeps keys unambiguous.
    const key = values.join("\u0001");
    let found = this.#children.get(key);
    if (!found) this.#children.set(key, found = { values, child: this.create() });
    return found.child;
  }

  render(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const { values, child } of this.#children.values()) out += this.sample(values, child);
    return out;
  }
}

/** A counter child: only goes up. */
export class CounterChild {
  value = 0;
  /** Adds `by` (default 1); negative amounts are ignored, a counter never goes down. */
  inc(by = 1): void {
    if (by > 0) this.value += by;
  }
}

/** A monotonically increasing count. */
export class Counter extends Family<CounterChild> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, "counter");
  }
  protected create(): CounterChild {
    return new CounterChild();
  }
  protected sample(values: string[], child: CounterChild): string {
    return `${this.name}${labelText(this.labelNames, values)} ${formatValue(child.value)}\n`;
  }
}

/** A gauge child: goes up and down. */
export class GaugeChild {
  value = 0;
  /** Adds `by` (default 1). */
  inc(by = 1): void {
    this.value += by;
  }
  /** Subtracts `by` (default 1). */
  dec(by = 1): void {
    this.value -= by;
  }
  /** Sets the value. */
  set(v: number): void {
    this.value = v;
  }
}

/** A value that goes up and down. */
export class Gauge extends Family<GaugeChild> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, "gauge");
  }
  protected create(): GaugeChild {
    return new GaugeChild();
  }
  protected sample(values: string[], child: GaugeChild): string {
    return `${this.name}${labelText(this.labelNames, values)} ${formatValue(child.value)}\n`;
  }
}

/** A histogram child: per-bucket counts (not cumulative until rendered), sum and count. */
export class HistogramChild {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array(bounds.length + 1).fill(0);
  }

  /** Records one observation. */
  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** A distribution over fixed upper bounds (`le`), plus `+Inf`. */
export class Histogram extends Family<HistogramChild> {
  readonly bounds: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], bounds: number[]) {
    super(name, help, labelNames, "histogram");
    if (labelNames.includes("le")) throw new Error(`${name}: "le" is reserved`);
    this.bounds = [...bounds].sort((a, b) => a - b);
  }
  protected create(): HistogramChild {
    return new HistogramChild(this.bounds);
  }
  protected sample(values: string[], child: HistogramChild): string {
    let out = "";
    let cumulative = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      cumulative += child.counts[i];
      const le = i < this.bounds.length ? formatValue(this.bounds[i]) : "+Inf";
      out += `${this.name}_bucket${
        labelText(this.labelNames, values, `le="${le}"`)
      } ${cumulative}\n`;
    }
    const labels = labelText(this.labelNames, values);
    out += `${this.name}_sum${labels} ${formatValue(child.sum)}\n`;
    out += `${this.name}_count${labels} ${child.count}\n`;
    return out;
  }
}

/** Holds metrics and renders them all. */
export class Registry {
  #metrics: Metric[] = [];
  #names = new Set<string>();

  /** Adds a metric; names must be unique. */
  register<M extends Metric & { name: string }>(metric: M): M {
    if (this.#names.has(metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.#names.add(metric.name);
    this.#metrics.push(metric);
    return metric;
  }

  /** The whole registry in Prometheus text format. */
  render(): string {
    return this.#metrics.map((m) => m.render()).join("");
  }
}

/** The Content-Type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
