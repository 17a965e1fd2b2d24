/**
 * How Ollama's Go server reads a JSON body, so the gateway reads it the same way.
 *
 * Go's `encoding/json` binds an object key to a struct field whose tag matches it exactly or
 * case-insensitively (Unicode simple folding: U+212A KELVIN SIGN is `k`, U+017F LONG S is `s`);
 * when several keys bind one field, the last one in the text wins, and objects bound to a map or
 * struct field merge key by key. A gateway that caps `options.num_predict` while Ollama reads a
 * later `OPTIONS` would cap nothing. So every body is brought into its canonical form first: one
 * key per field, spelled like Ollama's tag, holding what Ollama would end up with. The gateway
 * reads and rewrites only that form and forwards only that form, so what it checks is what
 * Ollama runs.
 * @module
 */

/** The part of a Go type that decoding depends on. */
export type GoShape =
  /** A struct: keys fold onto these field tags; later keys merge into or replace earlier ones. */
  | { kind: "struct"; fields: Readonly<Record<string, GoShape>> }
  /** A slice of one element shape (a later array replaces an earlier one). */
  | { kind: "array"; of: GoShape }
  /** `map[string]any`: keys are exact; objects under duplicate keys merge. */
  | { kind: "map" }
  /** A scalar, `any` or `json.RawMessage`: taken as it is, exact keys inside. */
  | { kind: "value" };

/** A scalar or opaque field. */
export const value: GoShape = { kind: "value" };
/** A `map[string]any` field such as `options`. */
export const map: GoShape = { kind: "map" };
/** A slice of `of`. */
export const array = (of: GoShape): GoShape => ({ kind: "array", of });
/** A struct with these json tags (fields not listed are read as opaque values). */
export const struct = (fields: Record<string, GoShape>): GoShape => ({ kind: "struct", fields });

/**
 * A key folded the way encoding/json compares names: ASCII letters to upper case, the two
 * non-ASCII letters whose fold orbit holds an ASCII letter to that letter. Other characters are
 * kept: no tag holds them, so they cannot make a key bind a field.
 */
export function foldKey(key: string): string {
  let out = "";
  for (const ch of key) {
    if (ch === "\u212a") out += "K";
    else if (ch === "\u017f") out += "S";
    else if (ch >= "a" && ch <= "z") out += ch.toUpperCase();
    else out += ch;
  }
  return out;
}

// Folded tag → tag, per struct shape (shapes are constants, so this is filled once).
const foldedTags = new WeakMap<GoShape, Map<string, string>>();

function tagsOf(shape: GoShape & { kind: "struct" }): Map<string, string> {
  let tags = foldedTags.get(shape);
  if (!tags) {
    tags = new Map(Object.keys(shape.fields).map((tag) => [foldKey(tag), tag]));
    foldedTags.set(shape, tags);
  }
  return tags;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** How deep the canonical form is built; deeper parts are passed on as they are. */
const MAX_DEPTH = 64;

/**
 * The value Ollama would decode from `value` into a Go value of `shape`, as plain JSON with one
 * key per struct field (spelled like its tag). Keys that bind no field are kept as they are
 * (Ollama ignores them). Never mutates its input.
 */
export function canonical(value: unknown, shape: GoShape, depth = 0): unknown {
  if (depth > MAX_DEPTH) return value;
  switch (shape.kind) {
    case "array":
      return Array.isArray(value) ? value.map((v) => canonical(v, shape.of, depth + 1)) : value;
    case "struct":
      return isObject(value) ? canonicalStruct(value, shape, depth) : value;
    default:
      return value;
  }
}

function canonicalStruct(
  obj: Record<string, unknown>,
  shape: GoShape & { kind: "struct" },
  depth: number,
): Record<string, unknown> {
  return canonicalEntries(Object.entries(obj), shape, depth);
}

/** A struct decoded from key-value pairs in text order (a merge is the pairs of both, in turn). */
function canonicalEntries(
  entries: Array<[string, unknown]>,
  shape: GoShape & { kind: "struct" },
  depth: number,
): Record<string, unknown> {
  const tags = tagsOf(shape);
  // Object.fromEntries makes own properties even for `__proto__`; a Map keeps one slot per field.
  const out = new Map<string, unknown>();
  for (const [key, v] of entries) {
    const tag = Object.hasOwn(shape.fields, key) ? key : tags.get(foldKey(key));
    if (tag === undefined) {
      out.set(key, v);
      continue;
    }
    const field = shape.fields[tag];
    const before = out.get(tag);
    if (isObject(before) && isObject(v) && field.kind === "struct" && depth < MAX_DEPTH) {
      // Decoding into a struct that is already set: the later keys land on the same struct.
      out.set(
        tag,
        canonicalEntries([...Object.entries(before), ...Object.entries(v)], field, depth + 1),
      );
    } else if (isObject(before) && isObject(v) && field.kind === "map") {
      out.set(tag, Object.fromEntries([...Object.entries(before), ...Object.entries(v)]));
    } else {
      out.set(tag, canonical(v, field, depth + 1));
    }
  }
  return Object.fromEntries(out);
}
