/**
 * Reads a Dockerfile into stages of instructions (continuations joined, comments dropped,
 * `${ARG}` defaults substituted), enough to check its structure without a Docker engine.
 * @module
 */

/** One instruction: keyword and the rest of the line. */
export interface Instruction {
  keyword: string;
  args: string;
}

/** One build stage. */
export interface Stage {
  name: string | null;
  from: string;
  instructions: Instruction[];
}

/** Parses Dockerfile text into its stages. */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (current === "" && (line.trim() === "" || line.trim().startsWith("#"))) continue;
    if (line.trim().startsWith("#")) continue; // a comment inside a continued instruction
    if (line.endsWith("\\")) {
      current += line.slice(0, -1) + " ";
      continue;
    }
    logical.push((current + line).trim());
    current = "";
  }
  const args = new Map<string, string>();
  const substitute = (s: string) =>
    s.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a, b) => args.get(a ?? b) ?? m);
  const stages: Stage[] = [];
  for (const line of logical) {
    const match = /^(\w+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const keyword = match[1].toUpperCase();
    const rest = match[2];
    if (keyword === "ARG" && stages.length === 0) {
      const [name, value] = rest.split("=", 2);
      if (value !== undefined) args.set(name.trim(), value.trim());
      continue;
    }
    if (keyword === "FROM") {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(substitute(rest));
      if (!from) throw new Error(`Cannot parse FROM ${rest}`);
      stages.push({ from: from[1], name: from[2] ?? null, instructions: [] });
      continue;
    }
    if (stages.length === 0) throw new Error(`${keyword} before the first FROM`);
    stages.at(-1)!.instructions.push({ keyword, args: substitute(rest) });
  }
  return stages;
}

/** The instructions of a stage with a keyword. */
export function instructions(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** A COPY instruction split into flags, sources and destination (JSON form or plain). */
export function parseCopy(args: string): { flags: string[]; sources: string[]; dest: string } {
  const words = args.trim().startsWith("[")
    ? JSON.parse(args) as string[]
    : args.trim().split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const paths = words.filter((w) => !w.startsWith("--"));
  return { flags, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** An exec-form command (`CMD ["a", "b"]`), as its words. */
export function execForm(args: string): string[] {
  const json = args.replace(/^(--\S+\s+)*CMD\s+/, "").trim();
  if (!json.startsWith("[")) throw new Error(`not an exec-form command: ${args}`);
  return JSON.parse(json);
}

/** ENV instructions of a stage as a map (`ENV A=1 B=2` form). */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of instructions(stage, "ENV")) {
    for (const m of args.matchAll(/(\w+)=(\S+)/g)) env[m[1]] = m[2];
  }
  return env;
}
