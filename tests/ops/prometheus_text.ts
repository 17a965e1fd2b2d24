/**
 * Reads Prometheus text format (0.0.4) strictly enough to catch a malformed exposition: every
 * line is a HELP, a TYPE or a sample of a declared metric.
 * @module
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
}

/** Parses an exposition, or throws naming the first line that is not valid. */
export function parsePrometheus(text: string): Sample[] {
  const declared = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") declared.set(meta[2], meta[3]);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const base = m[1].replace(/_(bucket|sum|count)$/, "");
    if (!declared.has(m[1]) && declared.get(base) !== "histogram") {
      throw new Error(`sample of an undeclared metric: ${line}`);
    }
    const labels: Record<string, string> = {};
    if (m[3]) {
      LABEL.lastIndex = 0;
      let consumed = 0;
      let l: RegExpExecArray | null;
      while ((l = LABEL.exec(m[3])) !== null) {
        labels[l[1]] = unescape(l[2]);
        consumed = LABEL.lastIndex;
        if (l[3] === "") break;
      }
      if (consumed !== m[3].length) throw new Error(`bad labels: ${line}`);
    }
    const value = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== "NaN") throw new Error(`bad value: ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

/** The value of the one sample with exactly these labels; undefined when there is none. */
export function valueOf(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels);
  const found = samples.find((s) =>
    s.name === name && Object.keys(s.labels).length === wanted.length &&
    wanted.every(([k, v]) => s.labels[k] === v)
  );
  return found?.value;
}
