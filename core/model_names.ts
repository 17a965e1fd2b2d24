/**
 * Ollama's model names: `[host/][namespace/]model[:tag]`, the tag `latest`, the namespace
 * `library` and the host `registry.ollama.ai` when left out, compared without case. So `llama3`,
 * `llama3:latest` and `registry.ollama.ai/library/llama3:latest` are one model.
 * @module
 */

const DEFAULT_PREFIXES = ["registry.ollama.ai/library/", "library/"];

/** The canonical spelling of a model name: lower case, default parts removed, a tag given. */
export function canonicalModel(name: string): string {
  let n = name.trim().toLowerCase();
  const at = n.indexOf("@");
  if (at >= 0) n = n.slice(0, at); // a digest pins a version of the same model
  for (const prefix of DEFAULT_PREFIXES) {
    if (n.startsWith(prefix)) {
      n = n.slice(prefix.length);
      break;
    }
  }
  const lastSegment = n.slice(n.lastIndexOf("/") + 1);
  return lastSegment.includes(":") ? n : `${n}:latest`;
}

/** The name without its tag (`qwen3` of `qwen3:8b`). */
function family(canonicalName: string): string {
  return canonicalName.slice(0, canonicalName.lastIndexOf(":"));
}

/** The tag of a model name (`8b` of `qwen3:8b`, `latest` when none is given). */
export function tagOf(name: string): string {
  const c = canonicalModel(name);
  return c.slice(c.lastIndexOf(":") + 1);
}

/**
 * Whether `model` matches `pattern`: the same model by Ollama's rules, or, for a pattern
 * `family:*`, any tag of that family.
 */
export function modelMatches(pattern: string, model: string): boolean {
  const p = pattern.trim().toLowerCase();
  const m = canonicalModel(model);
  if (p.endsWith(":*")) return family(m) === family(canonicalModel(p.slice(0, -2) + ":x"));
  return canonicalModel(p) === m;
}

/**
 * Whether Ollama runs a model on ollama.com (on the box owner's account) rather than locally:
 * its tag is `cloud` or ends in `-cloud` (`qwen3:cloud`, `gpt-oss:120b-cloud`).
 */
export function isCloudModel(name: string): boolean {
  const tag = tagOf(name);
  return tag === "cloud" || tag.endsWith("-cloud");
}

/** Whether a policy's model list (null: every model) allows `model`. */
export function modelAllowed(models: ReadonlyArray<string> | null, model: string): boolean {
  return models === null || models.some((pattern) => modelMatches(pattern, model));
}
