/**
 * JSON the way Go's encoding/json reads and writes it, for the mock Ollama.
 *
 * Reading is two steps. {@link scanJSON} reads the first value like json.Decoder.Decode (Go's
 * syntax errors, trailing data ignored) into a tree that keeps every object member in text
 * order, duplicates included. {@link decodeGo} then stores that tree into a Go type described
 * by a {@link GoType}, with encoding/json's rules:
 *
 * - an object key binds the struct field whose json tag equals it, else one that equals it
 *   under Go's case folding (ASCII case, plus U+212A KELVIN SIGN ≡ k and U+017F LONG S ≡ s);
 *   keys binding no field are ignored;
 * - several keys binding one field are decoded in text order into the same place, so the last
 *   wins for scalars, an object merges into a struct or an already-set pointer to a struct, and
 *   an object merges key by key into an already-set map (each map value decoded fresh);
 * - an array decodes element by element into the slice's existing elements (the backing
 *   array, even past the current length after a shorter array), so elements that are structs
 *   merge; `[]` and `null` drop the backing array;
 * - `null` leaves strings, numbers, bools and structs unchanged and sets pointers, slices, maps
 *   and interfaces to nil;
 * - a value of the wrong JSON type is a type error: decoding goes on and the first such error
 *   is reported; errors from types with their own UnmarshalJSON end decoding at once.
 *
 * Decoded Go values are plain JS values: structs and maps are objects keyed by json tag (a
 * struct holds only the fields that were set: a missing field is Go's zero value), slices are
 * arrays, a nil pointer/slice/map/interface is `undefined`, `any` holds what JSON.parse would
 * give (objects as Go maps: the last duplicate wins), json.RawMessage holds the {@link JVal}.
 * @module
 */

// ---------------------------------------------------------------------------------------------
// The value tree
// ---------------------------------------------------------------------------------------------

/** A JSON value as read from the text: objects keep duplicates, numbers keep their literal. */
export type JVal =
  | { t: "obj"; members: Array<[string, JVal]>; start: number; end: number }
  | { t: "arr"; items: JVal[]; start: number; end: number }
  | { t: "str"; v: string; start: number; end: number }
  | { t: "num"; text: string; start: number; end: number }
  | { t: "bool"; v: boolean; start: number; end: number }
  | { t: "null"; start: number; end: number };

/** Result of reading a body. */
export type Scan =
  | { kind: "ok"; value: JVal; text: string }
  | { kind: "eof" }
  | { kind: "error"; message: string };

class GoSyntaxError extends Error {}

function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return "'\"'";
  const q = JSON.stringify(c);
  return "'" + q.slice(1, -1) + "'";
}

const DIGIT = /[0-9]/;

/**
 * Reads the first JSON value like json.Decoder.Decode: whitespace only ⇒ EOF, truncated ⇒
 * "unexpected EOF", bad byte ⇒ Go's scanner message; anything after the first value is ignored.
 * `text` is the value's own text (what JSON.parse would read).
 */
export function scanJSON(s: string): Scan {
  let i = 0;
  const ws = () => {
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break;
      i++;
    }
  };
  const eof = () => new GoSyntaxError("unexpected EOF");
  const bad = (what: string) => new GoSyntaxError(`invalid character ${quoteChar(s[i])} ${what}`);
  const str = (): string => {
    const start = i;
    i++; // opening quote
    let escaped = false;
    for (;;) {
      if (i >= s.length) throw eof();
      const c = s[i];
      if (c === '"') {
        i++;
        break;
      }
      if (c < " ") throw bad("in string literal");
      if (c === "\\") {
        escaped = true;
        i++;
        if (i >= s.length) throw eof();
        if (s[i] === "u") {
          for (let k = 0; k < 4; k++) {
            i++;
            if (i >= s.length) throw eof();
            if (!/[0-9a-fA-F]/.test(s[i])) throw bad("in \\u hexadecimal character escape");
          }
        } else if (!'"\\/bfnrt'.includes(s[i])) throw bad("in string escape code");
      }
      i++;
    }
    const v = escaped ? JSON.parse(s.slice(start, i)) as string : s.slice(start + 1, i - 1);
    // Go replaces lone surrogates (invalid UTF-16 escapes) with U+FFFD.
    return v.toWellFormed();
  };
  const num = () => {
    if (s[i] === "-") {
      i++;
      if (i >= s.length) throw eof();
      if (!DIGIT.test(s[i])) throw bad("in numeric literal");
    }
    if (s[i] === "0") i++;
    else while (i < s.length && DIGIT.test(s[i])) i++;
    if (s[i] === ".") {
      i++;
      if (i >= s.length) throw eof();
      if (!DIGIT.test(s[i])) throw bad("after decimal point in numeric literal");
      while (i < s.length && DIGIT.test(s[i])) i++;
    }
    if (s[i] === "e" || s[i] === "E") {
      i++;
      if (s[i] === "+" || s[i] === "-") i++;
      if (i >= s.length) throw eof();
      if (!DIGIT.test(s[i])) throw bad("in exponent of numeric literal");
      while (i < s.length && DIGIT.test(s[i])) i++;
    }
  };
  const lit = (word: string) => {
    for (let k = 0; k < word.length; k++, i++) {
      if (i >= s.length) throw eof();
      if (s[i] !== word[k]) throw bad(`in literal ${word} (expecting ${quoteChar(word[k])})`);
    }
  };
  const value = (): JVal => {
    ws();
    if (i >= s.length) throw eof();
    const c = s[i];
    const start = i;
    if (c === "{") {
      i++;
      ws();
      if (i >= s.length) throw eof();
      const members: Array<[string, JVal]> = [];
      if (s[i] === "}") {
        i++;
        return { t: "obj", members, start, end: i };
      }
      for (;;) {
        ws();
        if (i >= s.length) throw eof();
        if (s[i] !== '"') throw bad("looking for beginning of object key string");
        const key = str();
        ws();
        if (i >= s.length) throw eof();
        if (s[i] !== ":") throw bad("after object key");
        i++;
        members.push([key, value()]);
        ws();
        if (i >= s.length) throw eof();
        if (s[i] === ",") {
          i++;
          continue;
        }
        if (s[i] === "}") {
          i++;
          return { t: "obj", members, start, end: i };
        }
        throw bad("after object key:value pair");
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (i >= s.length) throw eof();
      const items: JVal[] = [];
      if (s[i] === "]") {
        i++;
        return { t: "arr", items, start, end: i };
      }
      for (;;) {
        items.push(value());
        ws();
        if (i >= s.length) throw eof();
        if (s[i] === ",") {
          i++;
          continue;
        }
        if (s[i] === "]") {
          i++;
          return { t: "arr", items, start, end: i };
        }
        throw bad("after array element");
      }
    }
    if (c === '"') return { t: "str", v: str(), start, end: i };
    if (c === "-" || (c >= "0" && c <= "9")) {
      num();
      return { t: "num", text: s.slice(start, i), start, end: i };
    }
    if (c === "t") {
      lit("true");
      return { t: "bool", v: true, start, end: i };
    }
    if (c === "f") {
      lit("false");
      return { t: "bool", v: false, start, end: i };
    }
    if (c === "n") {
      lit("null");
      return { t: "null", start, end: i };
    }
    throw bad("looking for beginning of value");
  };
  ws();
  if (i >= s.length) return { kind: "eof" };
  try {
    const v = value();
    return { kind: "ok", value: v, text: s.slice(v.start, v.end) };
  } catch (err) {
    if (err instanceof GoSyntaxError) return { kind: "error", message: err.message };
    throw err;
  }
}

/** Sets an own property, also for the key "__proto__". */
export function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") {
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  } else o[k] = v;
}

/** The tree as Go's `any` holds it (map[string]any: the last duplicate key wins). */
export function plain(v: JVal): unknown {
  switch (v.t) {
    case "obj": {
      const o: Record<string, unknown> = {};
      for (const [k, m] of v.members) {
        if (Object.hasOwn(o, k)) delete o[k]; // a Go map has no order; keep JSON.parse's
        setOwn(o, k, plain(m));
      }
      return o;
    }
    case "arr":
      return v.items.map(plain);
    case "str":
      return v.v;
    case "num":
      return Number(v.text);
    case "bool":
      return v.v;
    case "null":
      return null;
  }
}

function kindName(v: JVal): string {
  switch (v.t) {
    case "obj":
      return "object";
    case "arr":
      return "array";
    case "str":
      return "string";
    case "num":
      return "number";
    case "bool":
      return "bool";
    case "null":
      return "null";
  }
}

// ---------------------------------------------------------------------------------------------
// Go key folding
// ---------------------------------------------------------------------------------------------

/**
 * The key as Go's case-insensitive field match sees it: ASCII lower case, KELVIN SIGN as "k",
 * LONG S as "s". (No other character folds to an ASCII letter, and every json tag here is ASCII.)
 */
export function foldKey(key: string): string {
  let out = "";
  for (const ch of key) {
    if (ch === "\u212a") out += "k";
    else if (ch === "\u017f") out += "s";
    else if (ch >= "A" && ch <= "Z") out += ch.toLowerCase();
    else out += ch;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Go types
// ---------------------------------------------------------------------------------------------

/** One struct field: its json tag name, its type, and the tag's omitempty / omitzero. */
export interface GoField {
  name: string;
  type: GoType;
  omitempty?: boolean;
  omitzero?: boolean;
}

/** Hands a custom UnmarshalJSON the tree, the value already there, and a nested decoder. */
export type CustomDecode = (v: JVal, old: unknown, d: Decoder) => unknown;

/** A Go type for {@link decodeGo} and {@link encodeGo}. */
export type GoType =
  | { k: "string" }
  | { k: "bool" }
  | { k: "int"; name: string }
  | { k: "float"; name: "float32" | "float64" }
  | { k: "any" }
  | { k: "raw" }
  | { k: "bytes"; name: string }
  | { k: "ptr"; elem: GoType }
  | { k: "slice"; elem: GoType }
  | { k: "map"; elem: GoType }
  | {
    k: "struct";
    name: string;
    pkg: string;
    fields: GoField[];
    exact: Map<string, GoField>;
    folded: Map<string, GoField>;
  }
  | {
    k: "custom";
    name: string;
    decode: CustomDecode;
    encode?: (v: unknown) => string;
    /** A pointer-receiver unmarshaler on a non-pointer field still sees `null`. */
    zero?: () => unknown;
  };

/** Builders for {@link GoType}s. */
export const T = {
  string: { k: "string" } as GoType,
  bool: { k: "bool" } as GoType,
  int: { k: "int", name: "int" } as GoType,
  float64: { k: "float", name: "float64" } as GoType,
  float32: { k: "float", name: "float32" } as GoType,
  any: { k: "any" } as GoType,
  raw: { k: "raw" } as GoType,
  bytes: (name = "[]uint8"): GoType => ({ k: "bytes", name }),
  ptr: (elem: GoType): GoType => ({ k: "ptr", elem }),
  slice: (elem: GoType): GoType => ({ k: "slice", elem }),
  map: (elem: GoType): GoType => ({ k: "map", elem }),
  struct(qualified: string, fields: Array<[string, GoType, string?]>): GoType {
    const dot = qualified.lastIndexOf(".");
    const list: GoField[] = fields.map(([name, type, opts]) => ({
      name,
      type,
      omitempty: opts?.includes("omitempty"),
      omitzero: opts?.includes("omitzero"),
    }));
    const exact = new Map<string, GoField>();
    const folded = new Map<string, GoField>();
    for (const f of list) {
      exact.set(f.name, f);
      if (!folded.has(foldKey(f.name))) folded.set(foldKey(f.name), f);
    }
    return {
      k: "struct",
      name: qualified.slice(dot + 1),
      pkg: qualified.slice(0, dot),
      fields: list,
      exact,
      folded,
    };
  },
  custom(
    name: string,
    decode: CustomDecode,
    encode?: (v: unknown) => string,
  ): GoType {
    return { k: "custom", name, decode, encode };
  },
};

/** Go's reflect.Type.String() of a type, as error messages print it. */
export function goTypeString(t: GoType): string {
  switch (t.k) {
    case "string":
      return "string";
    case "bool":
      return "bool";
    case "int":
      return t.name;
    case "float":
      return t.name;
    case "any":
      return "interface {}";
    case "raw":
      return "json.RawMessage";
    case "bytes":
      return t.name;
    case "ptr":
      return "*" + goTypeString(t.elem);
    case "slice":
      return "[]" + goTypeString(t.elem);
    case "map":
      return "map[string]" + goTypeString(t.elem);
    case "struct":
      return `${t.pkg}.${t.name}`;
    case "custom":
      return t.name;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/** An encoding/json error: a type mismatch (with its context) or any other message. */
export type GoError =
  | { kind: "type"; value: string; type: string; struct: string; field: string }
  | { kind: "other"; message: string };

/** The message Go's error prints. */
export function goErrorMessage(e: GoError): string {
  if (e.kind === "other") return e.message;
  if (e.struct !== "" || e.field !== "") {
    return `json: cannot unmarshal ${e.value} into Go struct field ${e.struct}.${e.field} of type ${e.type}`;
  }
  return `json: cannot unmarshal ${e.value} into Go value of type ${e.type}`;
}

/** Thrown to end decoding at once (an error from a custom UnmarshalJSON). */
export class GoAbort extends Error {
  constructor(readonly error: GoError) {
    super(goErrorMessage(error));
  }
}

/** An abort with a plain message (fmt.Errorf / errors.New in an UnmarshalJSON). */
export function abort(message: string): never {
  throw new GoAbort({ kind: "other", message });
}

/** Slices' backing arrays: elements past the length are reused by a later, longer array. */
const backing = new WeakMap<unknown[], unknown[]>();

/** One json.Unmarshal call: its error context and the first type error it saw. */
export class Decoder {
  private struct = "";
  private path: string[] = [];
  saved: GoError | undefined;

  /** Decodes `v` into a value of type `t` that currently holds `old`; returns the new value. */
  value(t: GoType, v: JVal, old: unknown): unknown {
    if (v.t === "null") return this.null(t, old);
    switch (t.k) {
      case "string":
        if (v.t !== "str") return this.mismatch(v, t, old);
        return v.v;
      case "bool":
        if (v.t !== "bool") return this.mismatch(v, t, old);
        return v.v;
      case "int": {
        if (v.t !== "num") return this.mismatch(v, t, old);
        if (!/^-?\d+$/.test(v.text)) return this.mismatch(v, t, old, `number ${v.text}`);
        const n = BigInt(v.text);
        if (n > 9223372036854775807n || n < -9223372036854775808n) {
          return this.mismatch(v, t, old, `number ${v.text}`);
        }
        return Number(n);
      }
      case "float": {
        if (v.t !== "num") return this.mismatch(v, t, old);
        const n = Number(v.text);
        const max = t.name === "float32" ? 3.4028234663852886e38 : Number.MAX_VALUE;
        if (!Number.isFinite(n) || Math.abs(n) > max) {
          return this.mismatch(v, t, old, `number ${v.text}`);
        }
        return t.name === "float32" ? Math.fround(n) : n;
      }
      case "any":
        this.checkNumbers(v);
        return plain(v);
      case "raw":
        return v;
      case "bytes":
        if (v.t !== "str") {
          // An array decodes element by element like any slice; Ollama's images never are.
          return this.mismatch(v, t, old);
        }
        return decodeBase64(v.v);
      case "ptr":
        return this.value(t.elem, v, old);
      case "slice": {
        if (v.t !== "arr") return this.mismatch(v, t, old);
        if (v.items.length === 0) return [];
        const prev = Array.isArray(old) ? (backing.get(old) ?? old) : [];
        const back = prev.slice();
        for (let i = 0; i < v.items.length; i++) {
          back[i] = this.value(t.elem, v.items[i], i < prev.length ? prev[i] : undefined);
        }
        const out = back.slice(0, v.items.length);
        backing.set(out, back);
        return out;
      }
      case "map": {
        if (v.t !== "obj") return this.mismatch(v, t, old);
        const m = isRecord(old) ? old : {};
        for (const [k, mv] of v.members) {
          setOwn(m, k, this.value(t.elem, mv, undefined));
        }
        return m;
      }
      case "struct": {
        if (v.t !== "obj") return this.mismatch(v, t, old);
        const o = isRecord(old) ? old : {};
        const outerStruct = this.struct;
        const depth = this.path.length;
        for (const [k, mv] of v.members) {
          const f = t.exact.get(k) ?? t.folded.get(foldKey(k));
          if (!f) continue;
          this.struct = t.name;
          this.path.push(f.name);
          const nv = this.value(f.type, mv, o[f.name]);
          if (nv === undefined) delete o[f.name];
          else setOwn(o, f.name, nv);
          this.path.length = depth;
        }
        this.struct = outerStruct;
        return o;
      }
      case "custom":
        return t.decode(v, old, this);
    }
  }

  private null(t: GoType, old: unknown): unknown {
    switch (t.k) {
      case "ptr":
      case "slice":
      case "map":
      case "any":
      case "bytes":
        return undefined;
      case "raw":
        return { t: "null", start: 0, end: 0 };
      case "custom":
        return t.decode({ t: "null", start: 0, end: 0 }, old, this);
      default:
        return old;
    }
  }

  /** Numbers held in `any` are float64: one out of range is a type error. */
  private checkNumbers(v: JVal): void {
    if (v.t === "num") {
      if (!Number.isFinite(Number(v.text))) {
        this.mismatch(v, T.float64, undefined, `number ${v.text}`);
      }
    } else if (v.t === "arr") v.items.forEach((x) => this.checkNumbers(x));
    else if (v.t === "obj") v.members.forEach(([, x]) => this.checkNumbers(x));
  }

  private mismatch(v: JVal, t: GoType, old: unknown, value = kindName(v)): unknown {
    this.saved ??= {
      kind: "type",
      value,
      type: goTypeString(t.k === "ptr" ? t.elem : t),
      struct: this.struct,
      field: this.path.join("."),
    };
    return old;
  }

  /** Runs a nested json.Unmarshal (from a custom UnmarshalJSON); its error ends this one. */
  nested(t: GoType, v: JVal, old?: unknown): unknown {
    const r = decodeGo(t, v, old);
    if (!r.ok) throw new GoAbort(r.error);
    return r.value;
  }

  /** Like a nested json.Unmarshal that reports failure instead of ending decoding. */
  attempt(t: GoType, v: JVal, old?: unknown): { ok: true; value: unknown } | { ok: false } {
    const r = decodeGo(t, v, old);
    return r.ok ? { ok: true, value: r.value } : { ok: false };
  }

  /** Rewrites an aborting type error with this decoder's context, as addErrorContext does. */
  context(e: GoError): GoError {
    if (e.kind !== "type" || (this.struct === "" && this.path.length === 0)) return e;
    return { ...e, struct: this.struct, field: this.path.join(".") };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Result of {@link decodeGo}. */
export type Decoded = { ok: true; value: unknown } | { ok: false; error: GoError };

/** json.Unmarshal of the tree `v` into a value of type `t` (holding `old`). */
export function decodeGo(t: GoType, v: JVal, old?: unknown): Decoded {
  const d = new Decoder();
  let value: unknown;
  try {
    if (t.k === "struct" && v.t !== "obj" && v.t !== "null") {
      return {
        ok: false,
        error: { kind: "type", value: kindName(v), type: goTypeString(t), struct: "", field: "" },
      };
    }
    value = d.value(t, v, old);
  } catch (err) {
    if (err instanceof GoAbort) return { ok: false, error: d.context(err.error) };
    throw err;
  }
  if (d.saved) return { ok: false, error: d.saved };
  return { ok: true, value };
}

const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * base64.StdEncoding.Decode as encoding/json uses it for []byte: padding required, CR and LF
 * skipped, Go's error offsets.
 */
export function decodeBase64(src: string): Uint8Array {
  const out: number[] = [];
  let si = 0;
  const fail = (at: number): never => abort(`illegal base64 data at input byte ${at}`);
  const skipNewlines = () => {
    while (si < src.length && (src[si] === "\n" || src[si] === "\r")) si++;
  };
  for (;;) {
    const q: number[] = [];
    let j = 0;
    let done = false;
    while (j < 4) {
      if (si === src.length) {
        if (j === 0) return new Uint8Array(out);
        fail(si - j);
      }
      const c = src[si++];
      if (c === "\n" || c === "\r") continue;
      if (c === "=") {
        if (j === 0 || j === 1) fail(si - 1);
        if (j === 2) {
          skipNewlines();
          if (si === src.length) fail(src.length);
          if (src[si] !== "=") fail(si - 1);
          si++;
        }
        skipNewlines();
        if (si < src.length) fail(si);
        done = true;
        break;
      }
      const d = B64_ALPHABET.indexOf(c);
      if (d < 0) fail(si - 1);
      q.push(d);
      j++;
    }
    const n = (q[0] << 18) | ((q[1] ?? 0) << 12) | ((q[2] ?? 0) << 6) | (q[3] ?? 0);
    out.push((n >> 16) & 255);
    if (q.length >= 3) out.push((n >> 8) & 255);
    if (q.length === 4) out.push(n & 255);
    if (done) return new Uint8Array(out);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

const GO_ESCAPES: Record<string, string> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/** A Go JSON string: like JSON.stringify, plus HTML and line-separator escaping. */
export function goString(s: string): string {
  return JSON.stringify(s.toWellFormed()).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]);
}

/** json.Marshal of a value held in `any` (maps print their keys sorted). */
export function goAny(v: unknown): string {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "string":
      return goString(v);
    case "number":
      return goFloat64(v);
    case "boolean":
      return v ? "true" : "false";
  }
  if (Array.isArray(v)) return "[" + v.map(goAny).join(",") + "]";
  const o = v as Record<string, unknown>;
  return "{" + Object.keys(o).sort().map((k) => goString(k) + ":" + goAny(o[k])).join(",") + "}";
}

/** A float64 as encoding/json writes it (its 'f'/'e' choice and exponent form match JS). */
export function goFloat64(x: number): string {
  return Number.isFinite(x) ? String(x) : "null";
}

/** The raw text of a json.RawMessage, compacted as json.Marshal writes it. */
export function goRaw(v: JVal): string {
  switch (v.t) {
    case "obj":
      return "{" + v.members.map(([k, m]) => goString(k) + ":" + goRaw(m)).join(",") + "}";
    case "arr":
      return "[" + v.items.map(goRaw).join(",") + "]";
    case "str":
      return goString(v.v);
    case "num":
      return v.text;
    case "bool":
      return v.v ? "true" : "false";
    case "null":
      return "null";
  }
}

function base64Encode(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function isEmpty(t: GoType, v: unknown): boolean {
  if (v === undefined) return true;
  if (Array.isArray(v)) return v.length === 0;
  switch (t.k) {
    case "string":
      return v === "";
    case "bool":
      return v === false;
    case "int":
    case "float":
      return v === 0;
    case "slice":
    case "bytes":
      return (v as ArrayLike<unknown>).length === 0;
    case "map":
      return Object.keys(v as object).length === 0;
    default:
      return false;
  }
}

/** json.Marshal of a decoded value of type `t`. */
export function encodeGo(t: GoType, v: unknown): string {
  switch (t.k) {
    case "string":
      return goString(typeof v === "string" ? v : "");
    case "bool":
      return v === true ? "true" : "false";
    case "int":
      return String(typeof v === "number" ? v : 0);
    case "float":
      return typeof v === "number" ? goFloat64(v) : "0";
    case "any":
      return goAny(v);
    case "raw":
      return v === undefined ? "null" : goRaw(v as JVal);
    case "bytes":
      if (v === undefined) return "null";
      return goString(base64Encode(v as Uint8Array));
    case "ptr":
      return v === undefined ? "null" : encodeGo(t.elem, v);
    case "slice":
      if (v === undefined) return "null";
      return "[" + (v as unknown[]).map((e) => encodeGo(t.elem, e)).join(",") + "]";
    case "map": {
      if (v === undefined) return "null";
      const o = v as Record<string, unknown>;
      return "{" +
        Object.keys(o).sort().map((k) => goString(k) + ":" + encodeGo(t.elem, o[k])).join(",") +
        "}";
    }
    case "struct": {
      const o = (v ?? {}) as Record<string, unknown>;
      const parts: string[] = [];
      for (const f of t.fields) {
        const fv = o[f.name];
        if (f.omitempty && isEmpty(f.type, fv)) continue;
        if (f.omitzero && fv === undefined) continue;
        parts.push(goString(f.name) + ":" + encodeGo(f.type, fv));
      }
      return "{" + parts.join(",") + "}";
    }
    case "custom":
      if (t.encode) return t.encode(v);
      return goAny(v);
  }
}
