/**
 * Summarises V8 `.cpuprofile` files (from `deno run --cpu-prof`): top functions and modules by
 * self time. Also runnable: `deno run -A bench/profile_summary.ts <dir> [top]`.
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

function shortUrl(url: string): string {
  if (!url) return "(native)";
  const npm = /\/npm\/registry\.npmjs\.org\/([^/]+(?:\/[^/]+)?)\//.exec(url);
  if (npm) return `npm:${npm[1].split("/")[0]}`;
  const i = url.search(/\/(main|wt\/[^/]+|llmq-ab-base[^/]*)\//);
  return i >= 0 ? url.slice(url.indexOf("/", i + 1) + 1) : url.replace(/^.*\/(ext|node):?/, "$1:");
}

/** Self time per function and per module of every profile in `dir`, as text. */
export async function summariseProfiles(
  dir: string,
  top = 25,
  /** Leave out `(idle)`: shares of the busy time only. */
  busyOnly = false,
): Promise<string> {
  const byFn = new Map<string, number>();
  const byModule = new Map<string, number>();
  let total = 0;
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".cpuprofile")) continue;
    const p = JSON.parse(await Deno.readTextFile(`${dir}/${e.name}`)) as Profile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const self = new Map<number, number>();
    (p.samples ?? []).forEach((id, i) => {
      self.set(id, (self.get(id) ?? 0) + (p.timeDeltas?.[i] ?? 0));
    });
    for (const [id, us] of self) {
      const n = nodes.get(id)!;
      if (busyOnly && n.callFrame.functionName === "(idle)") continue;
      const fn = `${n.callFrame.functionName || "(anonymous)"} ${shortUrl(n.callFrame.url)}:${
        n.callFrame.lineNumber + 1
      }`;
      byFn.set(fn, (byFn.get(fn) ?? 0) + us);
      const mod = shortUrl(n.callFrame.url);
      byModule.set(mod, (byModule.get(mod) ?? 0) + us);
      total += us;
    }
  }
  const fmt = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) =>
      `  ${(v / total * 100).toFixed(1).padStart(5)} %  ${
        (v / 1000).toFixed(0).padStart(7)
      } ms  ${k}`
    ).join("\n");
  return `total ${(total / 1000).toFixed(0)} ms sampled\nby function (self):\n${
    fmt(byFn)
  }\nby module (self):\n${fmt(byModule)}`;
}

if (import.meta.main) {
  console.log(
    await summariseProfiles(Deno.args[0], Number(Deno.args[1] ?? 25), Deno.args[2] === "busy"),
  );
}
