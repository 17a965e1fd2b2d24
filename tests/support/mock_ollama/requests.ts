/**
 * Ollama's request structs (api, openai, anthropic and Responses packages of Ollama v0.33.0)
 * as {@link GoType}s, and the compatibility layers' conversions to the native chat and generate
 * requests (openai.FromChatRequest, FromCompleteRequest, FromResponsesRequest,
 * anthropic.FromMessagesRequest), so the mock reads every body the way Ollama does.
 * @module
 */
import {
  abort,
  decodeGo,
  type Decoder,
  encodeGo,
  GoAbort,
  goAny,
  goErrorMessage,
  type GoType,
  type JVal,
  scanJSON,
  setOwn,
  T,
} from "./go_json.ts";

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function list<X = Json>(v: unknown): X[] {
  return Array.isArray(v) ? (v as X[]) : [];
}

// ---------------------------------------------------------------------------------------------
// api package
// ---------------------------------------------------------------------------------------------

/** Seconds of a Go duration string (time.ParseDuration), or an error message. */
export function parseGoDuration(s: string): number | string {
  const orig = s;
  const invalid = `time: invalid duration ${JSON.stringify(orig)}`;
  let neg = false;
  if (s[0] === "-" || s[0] === "+") {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return invalid;
  const units: Record<string, number> = {
    ns: 1e-9,
    us: 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    ms: 1e-3,
    s: 1,
    m: 60,
    h: 3600,
  };
  let total = 0;
  while (s !== "") {
    const m = /^(\d*)(\.\d*)?/.exec(s)!;
    if (m[0] === "" || m[0] === ".") return invalid;
    s = s.slice(m[0].length);
    const u = /^[^0-9.]*/.exec(s)![0];
    if (u === "") return `time: missing unit in duration ${JSON.stringify(orig)}`;
    if (!(u in units)) {
      return `time: unknown unit ${JSON.stringify(u)} in duration ${JSON.stringify(orig)}`;
    }
    s = s.slice(u.length);
    total += Number(m[0]) * units[u];
  }
  if (total * 1e9 > 9223372036854775807) return invalid; // overflow
  return neg ? -total : total;
}

/** Seconds of api.Duration; -1 stands for Go's "forever" (math.MaxInt64, from any negative). */
const Duration = T.custom("api.Duration", (v, _old, d) => {
  const x = d.nested(T.any, v);
  let secs: number;
  if (typeof x === "number") secs = x < 0 ? -1 : x;
  else if (typeof x === "string") {
    const p = parseGoDuration(x);
    if (typeof p === "string") abort(p);
    secs = p < 0 ? -1 : p;
  } else {
    const kind = x === null
      ? "<nil>"
      : Array.isArray(x)
      ? "[]interface {}"
      : typeof x === "boolean"
      ? "bool"
      : "map[string]interface {}";
    abort(`Unsupported type: '${kind}'`);
  }
  // time.Duration(float seconds * 1e9) past int64 wraps to a negative duration: forever.
  return secs * 1e9 >= 9223372036854775807 ? -1 : secs;
}, (v) => (typeof v === "number" && v < 0 ? "-1" : JSON.stringify(`${v}s`)));

const ThinkValue = T.custom("api.ThinkValue", (v) => {
  if (v.t === "bool") return v.v;
  if (v.t === "null") return false; // json.Unmarshal(null, &bool) succeeds with false
  if (v.t === "str") {
    if (!["high", "medium", "low", "max"].includes(v.v)) {
      abort(
        `invalid think value: ${
          JSON.stringify(v.v)
        } (must be "high", "medium", "low", "max", true, or false)`,
      );
    }
    return v.v;
  }
  abort('think must be a boolean or string ("high", "medium", "low", "max", true, or false)');
}, (v) => goAny(v));

/** An ordered map (wk8/go-ordered-map): decoded fresh, exact keys, text order kept. */
function orderedMap(name: string, elem: GoType): GoType {
  return T.custom(name, (v, _old, d) => {
    if (v.t === "null") return undefined;
    if (v.t !== "obj") abort(`json: cannot unmarshal ${v.t} into Go value of type ${name}`);
    const out: Json = {};
    for (const [k, mv] of v.members) setOwn(out, k, d.nested(elem, mv));
    return out;
  }, (v) => {
    if (v === undefined) return "{}";
    const o = v as Json;
    return "{" + Object.keys(o).map((k) => JSON.stringify(k) + ":" + encodeGo(elem, o[k])).join(
      ",",
    ) + "}";
  });
}

/** api.ToolCallFunctionArguments. */
export const ToolCallFunctionArguments = orderedMap("api.ToolCallFunctionArguments", T.any);

const PropertyType = T.custom("api.PropertyType", (v, _old, d) => {
  if (v.t === "str") return [v.v];
  return d.nested(T.slice(T.string), v);
}, (v) => {
  const a = list<string>(v);
  return a.length === 1 ? JSON.stringify(a[0]) : encodeGo(T.slice(T.string), v);
});

const ToolPropertyFields: Array<[string, GoType, string?]> = [];
const ToolProperty = T.struct("api.ToolProperty", ToolPropertyFields);
const ToolPropertiesMap = orderedMap("api.ToolPropertiesMap", ToolProperty);
ToolPropertyFields.push(
  ["anyOf", T.slice(ToolProperty), "omitempty"],
  ["type", PropertyType, "omitempty"],
  ["items", T.any, "omitempty"],
  ["description", T.string, "omitempty"],
  ["enum", T.slice(T.any), "omitempty"],
  ["properties", T.ptr(ToolPropertiesMap), "omitempty"],
  ["required", T.slice(T.string), "omitempty"],
);
// T.struct indexed the (then empty) field list; index it again now that it is complete.
Object.assign(ToolProperty, T.struct("api.ToolProperty", ToolPropertyFields));

/** api.ToolFunctionParameters. */
export const ToolFunctionParameters = T.struct("api.ToolFunctionParameters", [
  ["type", T.string],
  ["$defs", T.any, "omitempty"],
  ["items", T.any, "omitempty"],
  ["required", T.slice(T.string), "omitempty"],
  ["properties", T.ptr(ToolPropertiesMap)],
]);

/** api.Tool. */
export const Tool = T.struct("api.Tool", [
  ["type", T.string],
  ["items", T.any, "omitempty"],
  [
    "function",
    T.struct("api.ToolFunction", [
      ["name", T.string],
      ["description", T.string, "omitempty"],
      ["parameters", ToolFunctionParameters],
    ]),
  ],
]);

/** api.ToolCallFunction. */
export const ToolCallFunction = T.struct("api.ToolCallFunction", [
  ["index", T.int],
  ["name", T.string],
  ["arguments", ToolCallFunctionArguments],
]);

const ToolCall = T.struct("api.ToolCall", [
  ["id", T.string, "omitempty"],
  ["function", ToolCallFunction],
]);

const ImageData = T.bytes("api.ImageData");

const MessageAlias = T.struct("api.Alias", [
  ["role", T.string],
  ["content", T.string],
  ["thinking", T.string, "omitempty"],
  ["images", T.slice(ImageData), "omitempty"],
  ["tool_calls", T.slice(ToolCall), "omitempty"],
  ["tool_name", T.string, "omitempty"],
  ["tool_call_id", T.string, "omitempty"],
]);

/** api.Message: its UnmarshalJSON decodes a fresh copy and lower-cases the role. */
export const Message = T.custom("api.Message", (v, _old, d) => {
  const m = (d.nested(MessageAlias, v) ?? {}) as Json;
  if (typeof m.role === "string") m.role = m.role.toLowerCase();
  return m;
}, (v) => encodeGo(MessageAlias, v));

const Options = T.map(T.any);

/** api.GenerateRequest. */
export const GenerateRequest = T.struct("api.GenerateRequest", [
  ["model", T.string],
  ["prompt", T.string],
  ["suffix", T.string],
  ["system", T.string],
  ["template", T.string],
  ["context", T.slice(T.int), "omitempty"],
  ["stream", T.ptr(T.bool), "omitempty"],
  ["raw", T.bool, "omitempty"],
  ["format", T.raw, "omitempty"],
  ["keep_alive", T.ptr(Duration), "omitempty"],
  ["images", T.slice(ImageData), "omitempty"],
  ["options", Options],
  ["think", T.ptr(ThinkValue), "omitempty"],
  ["truncate", T.ptr(T.bool), "omitempty"],
  ["shift", T.ptr(T.bool), "omitempty"],
  ["_debug_render_only", T.bool, "omitempty"],
  ["logprobs", T.bool, "omitempty"],
  ["top_logprobs", T.int, "omitempty"],
]);

/** api.ChatRequest. */
export const ChatRequest = T.struct("api.ChatRequest", [
  ["model", T.string],
  ["messages", T.slice(Message)],
  ["stream", T.ptr(T.bool), "omitempty"],
  ["format", T.raw, "omitempty"],
  ["keep_alive", T.ptr(Duration), "omitempty"],
  ["tools", T.slice(Tool), "omitempty"],
  ["options", Options],
  ["think", T.ptr(ThinkValue), "omitempty"],
  ["truncate", T.ptr(T.bool), "omitempty"],
  ["shift", T.ptr(T.bool), "omitempty"],
  ["_debug_render_only", T.bool, "omitempty"],
  ["logprobs", T.bool, "omitempty"],
  ["top_logprobs", T.int, "omitempty"],
]);

/** api.EmbedRequest. */
export const EmbedRequest = T.struct("api.EmbedRequest", [
  ["model", T.string],
  ["input", T.any],
  ["keep_alive", T.ptr(Duration), "omitempty"],
  ["truncate", T.ptr(T.bool), "omitempty"],
  ["dimensions", T.int, "omitempty"],
  ["options", Options],
]);

/** api.EmbeddingRequest (the legacy /api/embeddings). */
export const EmbeddingRequest = T.struct("api.EmbeddingRequest", [
  ["model", T.string],
  ["prompt", T.string],
  ["keep_alive", T.ptr(Duration), "omitempty"],
  ["options", Options],
]);

/** api.ShowRequest. */
export const ShowRequest = T.struct("api.ShowRequest", [
  ["model", T.string],
  ["system", T.string],
  ["template", T.string],
  ["verbose", T.bool],
  ["options", Options],
  ["name", T.string],
]);

/** api.PullRequest / api.PushRequest. */
export function PullPushRequest(name: string): GoType {
  return T.struct(name, [
    ["model", T.string],
    ["insecure", T.bool, "omitempty"],
    ["username", T.string],
    ["password", T.string],
    ["stream", T.ptr(T.bool), "omitempty"],
    ["name", T.string],
  ]);
}

/** api.CreateRequest. */
export const CreateRequest = T.struct("api.CreateRequest", [
  ["model", T.string],
  ["stream", T.ptr(T.bool), "omitempty"],
  ["quantize", T.string, "omitempty"],
  ["draft_quantize", T.string, "omitempty"],
  ["from", T.string, "omitempty"],
  ["remote_host", T.string, "omitempty"],
  ["files", T.map(T.string), "omitempty"],
  ["draft_files", T.map(T.string), "omitempty"],
  ["adapters", T.map(T.string), "omitempty"],
  ["template", T.string, "omitempty"],
  ["license", T.any, "omitempty"],
  ["system", T.string, "omitempty"],
  ["parameters", T.map(T.any), "omitempty"],
  ["messages", T.slice(Message), "omitempty"],
  ["renderer", T.string, "omitempty"],
  ["parser", T.string, "omitempty"],
  ["requires", T.string, "omitempty"],
  ["info", T.map(T.any), "omitempty"],
  ["name", T.string],
  ["quantization", T.string, "omitempty"],
]);

/** api.CopyRequest. */
export const CopyRequest = T.struct("api.CopyRequest", [
  ["source", T.string],
  ["destination", T.string],
]);

/** api.DeleteRequest. */
export const DeleteRequest = T.struct("api.DeleteRequest", [
  ["model", T.string],
  ["name", T.string],
]);

// ---------------------------------------------------------------------------------------------
// Options.FromMap
// ---------------------------------------------------------------------------------------------

type OptionKind = "int" | "float32" | "bool" | "string[]" | "*int" | "*bool";

/** api.Options and its embedded api.Runner: json tag → kind (the keys FromMap accepts). */
const OPTION_KINDS: Record<string, OptionKind> = {
  num_keep: "int",
  seed: "int",
  num_predict: "int",
  top_k: "int",
  top_p: "float32",
  min_p: "float32",
  typical_p: "float32",
  repeat_last_n: "int",
  temperature: "float32",
  repeat_penalty: "float32",
  presence_penalty: "float32",
  frequency_penalty: "float32",
  stop: "string[]",
  num_ctx: "int",
  num_batch: "int",
  num_gpu: "int",
  main_gpu: "*int",
  use_mmap: "*bool",
  num_thread: "int",
  draft_num_predict: "int",
};

/** Go's int64(float64): truncation; out of range gives math.MinInt64 on amd64. */
function goInt(x: number): number {
  if (!(Math.abs(x) < 9223372036854775808)) return -9223372036854775808;
  return Math.trunc(x);
}

/**
 * Options.FromMap over a request's options map: exact keys only (unknown keys are ignored, a
 * null value is skipped), Go's conversions. Returns the options it set, or its error message.
 */
export function optionsFromMap(m: Json | undefined): Json | string {
  const out: Json = {};
  if (!m) return out;
  for (const [key, val] of Object.entries(m)) {
    const kind = OPTION_KINDS[key];
    if (!kind || val === null || val === undefined) continue;
    const q = JSON.stringify(key);
    switch (kind) {
      case "int":
      case "*int":
        if (typeof val !== "number") return `option ${q} must be of type integer`;
        out[key] = goInt(val);
        break;
      case "float32":
        if (typeof val !== "number") return `option ${q} must be of type float32`;
        out[key] = Math.fround(val);
        break;
      case "bool":
      case "*bool":
        if (typeof val !== "boolean") return `option ${q} must be of type boolean`;
        out[key] = val;
        break;
      case "string[]":
        if (!Array.isArray(val)) return `option ${q} must be of type array`;
        if (!val.every((x) => typeof x === "string")) {
          return `option ${q} must be of an array of strings`;
        }
        out[key] = [...val];
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// openai package
// ---------------------------------------------------------------------------------------------

const OpenAIToolCall = T.struct("openai.ToolCall", [
  ["id", T.string],
  ["index", T.int],
  ["type", T.string],
  [
    "function",
    T.struct(
      '.struct { Name string "json:\\"name\\""; Arguments string "json:\\"arguments\\"" }',
      [["name", T.string], ["arguments", T.string]],
    ),
  ],
]);

const OpenAIMessage = T.struct("openai.Message", [
  ["role", T.string],
  ["content", T.any],
  ["reasoning", T.string, "omitempty"],
  ["tool_calls", T.slice(OpenAIToolCall), "omitempty"],
  ["name", T.string, "omitempty"],
  ["tool_call_id", T.string, "omitempty"],
]);

const StreamOptions = T.struct("openai.StreamOptions", [["include_usage", T.bool]]);

/** openai.ChatCompletionRequest. */
export const ChatCompletionRequest = T.struct("openai.ChatCompletionRequest", [
  ["model", T.string],
  ["messages", T.slice(OpenAIMessage)],
  ["stream", T.bool],
  ["stream_options", T.ptr(StreamOptions)],
  ["max_tokens", T.ptr(T.int)],
  ["seed", T.ptr(T.int)],
  ["stop", T.any],
  ["temperature", T.ptr(T.float64)],
  ["frequency_penalty", T.ptr(T.float64)],
  ["presence_penalty", T.ptr(T.float64)],
  ["top_p", T.ptr(T.float64)],
  [
    "response_format",
    T.ptr(T.struct("openai.ResponseFormat", [
      ["type", T.string],
      ["json_schema", T.ptr(T.struct("openai.JsonSchema", [["schema", T.raw]])), "omitempty"],
    ])),
  ],
  ["tools", T.slice(Tool)],
  [
    "reasoning",
    T.ptr(T.struct("openai.Reasoning", [["effort", T.string, "omitempty"]])),
    "omitempty",
  ],
  ["reasoning_effort", T.ptr(T.string), "omitempty"],
  ["logprobs", T.ptr(T.bool)],
  ["top_logprobs", T.int],
  ["_debug_render_only", T.bool],
]);

/** openai.CompletionRequest. */
export const CompletionRequest = T.struct("openai.CompletionRequest", [
  ["model", T.string],
  ["prompt", T.string],
  ["frequency_penalty", T.float32],
  ["max_tokens", T.ptr(T.int)],
  ["presence_penalty", T.float32],
  ["seed", T.ptr(T.int)],
  ["stop", T.any],
  ["stream", T.bool],
  ["stream_options", T.ptr(StreamOptions)],
  ["temperature", T.ptr(T.float32)],
  ["top_p", T.float32],
  ["suffix", T.string],
  ["logprobs", T.ptr(T.int)],
  ["_debug_render_only", T.bool],
]);

/** openai.EmbedRequest. */
export const OpenAIEmbedRequest = T.struct("openai.EmbedRequest", [
  ["input", T.any],
  ["model", T.string],
  ["dimensions", T.int, "omitempty"],
  ["encoding_format", T.string, "omitempty"],
]);

/** Go's %T of a value held in `any`. */
export function goDynamicType(v: unknown): string {
  if (typeof v === "number") return "float64";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "string") return "string";
  if (Array.isArray(v)) return "[]interface {}";
  if (v === null || v === undefined) return "<nil>";
  return "map[string]interface {}";
}

/** openai's decodeImageURL: a base64 data URL (jpeg, jpg, png, webp or no type). */
function decodeImageURL(url: string): Uint8Array | string {
  if (url.startsWith("http://") || url.startsWith("https://")) {
    return "image URLs are not currently supported, please use base64 encoded data instead";
  }
  let data: string | undefined;
  if (url.startsWith("data:;base64,")) data = url.slice("data:;base64,".length);
  else {
    for (const t of ["jpeg", "jpg", "png", "webp"]) {
      const prefix = `data:image/${t};base64,`;
      if (url.startsWith(prefix)) {
        data = url.slice(prefix.length);
        break;
      }
    }
  }
  if (data === undefined) return "invalid image input";
  const bytes = stdBase64(data);
  return bytes ?? "invalid image input";
}

/** base64.StdEncoding.DecodeString (no newline skipping needed for the mock's purposes). */
function stdBase64(s: string): Uint8Array | null {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return null;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The native chat request a compatibility layer hands Ollama's ChatHandler. */
export interface NativeChat {
  model: string;
  /** api.Message values (role, content, thinking, images, tool_calls, tool_name, tool_call_id). */
  messages: Json[];
  /** api.Tool values. */
  tools: Json[];
  /** The options map (before Options.FromMap). */
  options: Json;
}

/** FromCompletionToolCall: arguments must parse as a JSON object. */
function fromCompletionToolCalls(calls: Json[]): Json[] | string {
  const out: Json[] = [];
  for (const tc of calls) {
    const fn = isObj(tc.function) ? tc.function : {};
    const args = parseArguments(str(fn.arguments));
    if (args === null) return "invalid tool call arguments";
    out.push({ id: str(tc.id), function: { index: 0, name: str(fn.name), arguments: args } });
  }
  return out;
}

/** json.Unmarshal of a whole text (trailing data is an error) into `t`. */
export function unmarshal(t: GoType, text: string): { ok: true; value: unknown } | {
  ok: false;
  message: string;
} {
  const scanned = scanJSON(text);
  if (scanned.kind === "eof") return { ok: false, message: "unexpected end of JSON input" };
  if (scanned.kind === "error") {
    const m = scanned.message;
    return { ok: false, message: m === "unexpected EOF" ? "unexpected end of JSON input" : m };
  }
  const rest = text.slice(scanned.value.end);
  const junk = rest.search(/[^ \t\r\n]/);
  if (junk >= 0) {
    return {
      ok: false,
      message: `invalid character ${JSON.stringify(rest[junk]).replace(/^"|"$/g, "'")} ` +
        "after top-level value",
    };
  }
  const r = decodeGo(t, scanned.value);
  return r.ok
    ? { ok: true, value: r.value ?? {} }
    : { ok: false, message: goErrorMessage(r.error) };
}

/** json.Unmarshal of a string into ToolCallFunctionArguments, or null on error. */
export function parseArguments(s: string): Json | null {
  const r = unmarshal(ToolCallFunctionArguments, s);
  return r.ok ? (r.value as Json) : null;
}

/** json.Marshal of a value held in `any`, then json.Unmarshal into `t` (null on error). */
function remarshal(t: GoType, v: unknown): Json | null {
  const r = unmarshal(t, goAny(v));
  return r.ok ? (r.value as Json) : null;
}

/** openai.thinkFromReasoningEffort's validation. */
export function reasoningEffortError(effort: string): string | null {
  if (
    ["", "none", "minimal", "low", "medium", "high", "max", "xhigh", "ultra"].includes(effort)
  ) return null;
  return `invalid reasoning value: ${
    JSON.stringify(effort)
  } (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")`;
}

/** openai.FromChatRequest: the native chat request, or the error Ollama answers 400 with. */
export function fromChatRequest(r: Json): NativeChat | string {
  const messages: Json[] = [];
  const rmsgs = list(r.messages);
  for (const msg of rmsgs) {
    const role = str(msg.role);
    let toolName = "";
    if (role.toLowerCase() === "tool") {
      toolName = str(msg.name);
      if (toolName === "" && str(msg.tool_call_id) !== "") {
        toolName = nameFromToolCallID(rmsgs, str(msg.tool_call_id));
      }
    }
    const content = msg.content;
    const calls = list(msg.tool_calls);
    if (typeof content === "string") {
      const tc = fromCompletionToolCalls(calls);
      if (typeof tc === "string") return tc;
      messages.push({
        role,
        content,
        thinking: str(msg.reasoning),
        tool_calls: tc,
        tool_name: toolName,
        tool_call_id: str(msg.tool_call_id),
      });
    } else if (Array.isArray(content)) {
      for (const c of content) {
        if (!isObj(c)) return "invalid message format";
        if (c.type === "text") {
          if (typeof c.text !== "string") return "invalid message format";
          messages.push({ role, content: c.text });
        } else if (c.type === "image_url") {
          let url: string;
          if (isObj(c.image_url)) {
            if (typeof c.image_url.url !== "string") return "invalid message format";
            url = c.image_url.url;
          } else if (typeof c.image_url === "string") url = c.image_url;
          else return "invalid message format";
          const img = decodeImageURL(url);
          if (typeof img === "string") return img;
          messages.push({ role, content: "", images: [img] });
        } else if (c.type === "input_audio") {
          const audio = c.input_audio;
          if (!isObj(audio)) return "invalid input_audio format";
          if (typeof audio.data !== "string") return "invalid input_audio format: missing data";
          const bytes = stdBase64(audio.data);
          if (!bytes) return "invalid input_audio base64 data: illegal base64 data at input byte 0";
          messages.push({ role, content: "", images: [bytes] });
        } else return "invalid message format";
      }
      if (messages.length > 0 && calls.length > 0) {
        const tc = fromCompletionToolCalls(calls);
        if (typeof tc === "string") return tc;
        const last = messages[messages.length - 1];
        last.tool_calls = tc;
        last.tool_name = toolName;
        last.tool_call_id = str(msg.tool_call_id);
        last.thinking = str(msg.reasoning);
      }
    } else {
      if (msg.tool_calls === undefined) {
        return `invalid message content type: ${goDynamicType(content)}`;
      }
      const tc = fromCompletionToolCalls(calls);
      if (typeof tc === "string") return tc;
      messages.push({
        role,
        content: "",
        thinking: str(msg.reasoning),
        tool_calls: tc,
        tool_call_id: str(msg.tool_call_id),
      });
    }
  }
  const options: Json = {};
  const stop = r.stop;
  if (typeof stop === "string") options.stop = [stop];
  else if (Array.isArray(stop)) options.stop = stop.filter((s) => typeof s === "string");
  if (r.max_tokens !== undefined) options.num_predict = r.max_tokens;
  options.temperature = r.temperature ?? 1.0;
  if (r.seed !== undefined) options.seed = r.seed;
  if (r.frequency_penalty !== undefined) options.frequency_penalty = r.frequency_penalty;
  if (r.presence_penalty !== undefined) options.presence_penalty = r.presence_penalty;
  options.top_p = r.top_p ?? 1.0;
  const reasoning = isObj(r.reasoning) ? r.reasoning : undefined;
  const effort = reasoning ? str(reasoning.effort) : str(r.reasoning_effort);
  const effortErr = reasoningEffortError(effort);
  if (effortErr) return effortErr;
  return { model: str(r.model), messages, tools: list(r.tools), options };
}

function nameFromToolCallID(messages: Json[], id: string): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    for (const tc of list(messages[i].tool_calls)) {
      if (tc.id === id) return str(isObj(tc.function) ? tc.function.name : "");
    }
  }
  return "";
}

/** The native generate request (the fields the mock renders). */
export interface NativeGenerate {
  model: string;
  prompt: string;
  suffix: string;
  system: string;
  template: string;
  context: number[] | undefined;
  images: number;
  raw: boolean;
  options: Json;
}

/** openai.FromCompleteRequest. */
export function fromCompleteRequest(r: Json): NativeGenerate | string {
  const options: Json = {};
  const stop = r.stop;
  if (typeof stop === "string") options.stop = [stop];
  else if (Array.isArray(stop)) {
    const bad = stop.find((s) => typeof s !== "string");
    if (bad !== undefined) return `invalid type for 'stop' field: ${goDynamicType(bad)}`;
    options.stop = stop;
  }
  if (r.max_tokens !== undefined) options.num_predict = r.max_tokens;
  options.temperature = r.temperature ?? 1.0;
  if (r.seed !== undefined) options.seed = r.seed;
  options.frequency_penalty = r.frequency_penalty ?? 0;
  options.presence_penalty = r.presence_penalty ?? 0;
  options.top_p = typeof r.top_p === "number" && r.top_p !== 0 ? r.top_p : 1.0;
  return {
    model: str(r.model),
    prompt: str(r.prompt),
    suffix: str(r.suffix),
    system: "",
    template: "",
    context: undefined,
    images: 0,
    raw: false,
    options,
  };
}

// ---------------------------------------------------------------------------------------------
// anthropic package
// ---------------------------------------------------------------------------------------------

const ImageSource = T.struct("anthropic.ImageSource", [
  ["type", T.string],
  ["media_type", T.string, "omitempty"],
  ["data", T.string, "omitempty"],
  ["url", T.string, "omitempty"],
]);

/** anthropic.ContentBlock. */
export const ContentBlock = T.struct("anthropic.ContentBlock", [
  ["type", T.string],
  ["text", T.ptr(T.string), "omitempty"],
  [
    "citations",
    T.slice(T.struct("anthropic.Citation", [
      ["type", T.string],
      ["url", T.string],
      ["title", T.string],
      ["encrypted_index", T.string, "omitempty"],
      ["cited_text", T.string, "omitempty"],
    ])),
    "omitempty",
  ],
  ["source", T.ptr(ImageSource), "omitempty"],
  ["id", T.string, "omitempty"],
  ["name", T.string, "omitempty"],
  ["input", ToolCallFunctionArguments, "omitzero"],
  ["tool_use_id", T.string, "omitempty"],
  ["content", T.any, "omitempty"],
  ["is_error", T.bool, "omitempty"],
  ["thinking", T.ptr(T.string), "omitempty"],
  ["signature", T.string, "omitempty"],
]);

const MessageParamRaw = T.struct(
  '.struct { Role string "json:\\"role\\""; Content json.RawMessage "json:\\"content\\"" }',
  [["role", T.string], ["content", T.raw]],
);

/** anthropic.MessageParam: content is a string (one text block) or an array of blocks. */
const MessageParam = T.custom("anthropic.MessageParam", (v, old, d) => {
  const raw = d.nested(MessageParamRaw, v) as Json;
  const m: Json = isObj(old) ? old : {};
  m.role = str(raw.role);
  const content = raw.content as JVal | undefined;
  if (content === undefined) abort("unexpected end of JSON input");
  if (content.t === "str" || content.t === "null") {
    m.content = [{ type: "text", text: content.t === "str" ? content.v : "" }];
    return m;
  }
  const blocks = d.nested(T.slice(ContentBlock), content, m.content);
  if (blocks === undefined) delete m.content;
  else m.content = blocks;
  return m;
});

const AnthropicTool = T.struct("anthropic.Tool", [
  ["type", T.string, "omitempty"],
  ["name", T.string],
  ["description", T.string, "omitempty"],
  ["input_schema", T.raw, "omitempty"],
  ["max_uses", T.int, "omitempty"],
]);

/** anthropic.MessagesRequest. */
export const MessagesRequest = T.struct("anthropic.MessagesRequest", [
  ["model", T.string],
  ["max_tokens", T.int],
  ["messages", T.slice(MessageParam)],
  ["system", T.any, "omitempty"],
  ["stream", T.bool, "omitempty"],
  ["temperature", T.ptr(T.float64), "omitempty"],
  ["top_p", T.ptr(T.float64), "omitempty"],
  ["top_k", T.ptr(T.int), "omitempty"],
  ["stop_sequences", T.slice(T.string), "omitempty"],
  ["tools", T.slice(AnthropicTool), "omitempty"],
  [
    "tool_choice",
    T.ptr(T.struct("anthropic.ToolChoice", [
      ["type", T.string],
      ["name", T.string, "omitempty"],
      ["disable_parallel_tool_use", T.bool, "omitempty"],
    ])),
    "omitempty",
  ],
  [
    "thinking",
    T.ptr(T.struct("anthropic.ThinkingConfig", [
      ["type", T.string],
      ["budget_tokens", T.int, "omitempty"],
    ])),
    "omitempty",
  ],
  [
    "metadata",
    T.ptr(T.struct("anthropic.Metadata", [["user_id", T.string, "omitempty"]])),
    "omitempty",
  ],
  [
    "output_config",
    T.ptr(T.struct("anthropic.OutputConfig", [["effort", T.string, "omitempty"]])),
    "omitempty",
  ],
]);

function utf8Len(s: string): number {
  return new TextEncoder().encode(s).length;
}

function blockLength(block: Json): number {
  let total = 0;
  if (typeof block.text === "string") total += utf8Len(block.text);
  if (typeof block.thinking === "string") total += utf8Len(block.thinking);
  if (block.type === "tool_use" || block.type === "tool_result") {
    total += utf8Len(encodeGo(ContentBlock, block));
  }
  return total;
}

/** anthropic.EstimateInputTokens (len/4 of the text, at least 1): message_start's estimate. */
export function anthropicEstimate(req: Json): number {
  let total = 0;
  const system = req.system;
  if (typeof system === "string") total += utf8Len(system);
  else if (Array.isArray(system)) {
    for (const item of system) {
      // json.Marshal then json.Unmarshal into a ContentBlock: case-insensitive again.
      const r = remarshal(ContentBlock, item);
      if (r) total += blockLength(r);
    }
  } else if (system !== undefined && system !== null) total += utf8Len(goAny(system));
  const messages = list(req.messages);
  for (const msg of messages) {
    total += utf8Len(str(msg.role));
    for (const b of list(msg.content)) total += blockLength(b);
  }
  for (const t of list(req.tools)) {
    const schema = t.input_schema as JVal | undefined;
    total += utf8Len(str(t.name)) + utf8Len(str(t.description)) +
      (schema === undefined ? 0 : utf8Len(rawText(schema)));
  }
  let tokens = Math.floor(total / 4);
  if (tokens === 0 && (messages.length > 0 || (system !== undefined && system !== null))) {
    tokens = 1;
  }
  return tokens;
}

let rawSource = "";

/** The body text the current trees point into (json.RawMessage keeps the bytes as sent). */
export function setRawSource(s: string): void {
  rawSource = s;
}

/** The bytes of a json.RawMessage as the client sent them. */
export function rawText(v: JVal): string {
  if (v.end > v.start) return rawSource.slice(v.start, v.end);
  return "null";
}

function resolveImageSource(source: Json): Uint8Array | string {
  if (str(source.type) !== "base64") {
    return `invalid image source type: ${str(source.type)}. Only base64 images are supported.`;
  }
  const bytes = stdBase64(str(source.data));
  return bytes ?? "invalid base64 image data: illegal base64 data at input byte 0";
}

function convertToolResultContent(
  content: unknown,
): { text: string; images: Uint8Array[] } | string {
  if (typeof content === "string") return { text: content, images: [] };
  if (!Array.isArray(content)) return { text: "", images: [] };
  let text = "";
  const images: Uint8Array[] = [];
  for (const cb of content) {
    if (!isObj(cb)) continue;
    if (cb.type === "text") {
      if (typeof cb.text === "string") text += cb.text;
    } else if (cb.type === "image") {
      if (!isObj(cb.source)) return "invalid tool_result image source";
      const img = resolveImageSource({
        type: str(cb.source.type),
        media_type: str(cb.source.media_type),
        data: str(cb.source.data),
      });
      if (typeof img === "string") return img;
      images.push(img);
    }
  }
  return { text, images };
}

function webSearchResultText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    let out = "";
    for (const item of content) {
      if (!isObj(item)) continue;
      if (item.type === "web_search_result") out += `- ${str(item.title)}: ${str(item.url)}\n`;
      else if (item.type === "web_search_tool_result_error") {
        const code = str(item.error_code);
        return code === ""
          ? "web_search_tool_result_error"
          : `web_search_tool_result_error: ${code}`;
      }
    }
    return out;
  }
  if (isObj(content) && content.type === "web_search_tool_result_error") {
    const code = str(content.error_code);
    return code === "" ? "web_search_tool_result_error" : `web_search_tool_result_error: ${code}`;
  }
  return goAny(content ?? null);
}

function convertAnthropicMessage(msg: Json): Json[] | string {
  const role = str(msg.role).toLowerCase();
  let text = "";
  const images: Uint8Array[] = [];
  const toolCalls: Json[] = [];
  let thinking = "";
  const toolResults: Json[] = [];
  for (const block of list(msg.content)) {
    switch (block.type) {
      case "text":
        if (typeof block.text === "string") text += block.text;
        break;
      case "image": {
        if (!isObj(block.source)) return "invalid image source";
        const img = resolveImageSource(block.source);
        if (typeof img === "string") return img;
        images.push(img);
        break;
      }
      case "tool_use":
        if (str(block.id) === "") return "tool_use block missing required 'id' field";
        if (str(block.name) === "") return "tool_use block missing required 'name' field";
        toolCalls.push({
          id: block.id,
          function: { index: 0, name: block.name, arguments: block.input },
        });
        break;
      case "tool_result": {
        const r = convertToolResultContent(block.content);
        if (typeof r === "string") return r;
        toolResults.push({
          role: "tool",
          content: r.text,
          images: r.images,
          tool_call_id: str(block.tool_use_id),
        });
        break;
      }
      case "thinking":
        if (typeof block.thinking === "string") thinking = block.thinking;
        break;
      case "server_tool_use":
        toolCalls.push({
          id: str(block.id),
          function: { index: 0, name: str(block.name), arguments: block.input },
        });
        break;
      case "web_search_tool_result":
        toolResults.push({
          role: "tool",
          content: webSearchResultText(block.content),
          tool_call_id: str(block.tool_use_id),
        });
        break;
    }
  }
  const out: Json[] = [];
  if (role === "user" && toolResults.length > 0) out.push(...toolResults);
  if (text !== "" || images.length > 0 || toolCalls.length > 0 || thinking !== "") {
    out.push({ role, content: text, images, tool_calls: toolCalls, thinking });
  }
  if (role !== "user" || toolResults.length === 0) out.push(...toolResults);
  return out;
}

const WEB_SEARCH_QUERY = "The search query to look up on the web";

/** anthropic.FromMessagesRequest. */
export function fromMessagesRequest(r: Json): NativeChat | string {
  const messages: Json[] = [];
  const system = r.system;
  if (typeof system === "string") {
    if (system !== "") messages.push({ role: "system", content: system });
  } else if (Array.isArray(system)) {
    let content = "";
    for (const block of system) {
      if (isObj(block) && block.type === "text" && typeof block.text === "string") {
        content += block.text;
      }
    }
    if (content !== "") messages.push({ role: "system", content });
  }
  for (const msg of list(r.messages)) {
    const converted = convertAnthropicMessage(msg);
    if (typeof converted === "string") return converted;
    messages.push(...converted);
  }
  const options: Json = { num_predict: r.max_tokens ?? 0 };
  if (r.temperature !== undefined) options.temperature = r.temperature;
  if (r.top_p !== undefined) options.top_p = r.top_p;
  if (r.top_k !== undefined) options.top_k = r.top_k;
  if (list(r.stop_sequences).length > 0) options.stop = r.stop_sequences;
  const tools: Json[] = [];
  const rtools = list(r.tools);
  const builtin = rtools.some((t) => str(t.type).startsWith("web_search"));
  for (const t of rtools) {
    if (str(t.type).startsWith("web_search")) {
      tools.push({
        type: "function",
        function: {
          name: "web_search",
          description:
            "Search the web for current information. Use this to find up-to-date information about any topic.",
          parameters: {
            type: "object",
            required: ["query"],
            properties: { query: { type: ["string"], description: WEB_SEARCH_QUERY } },
          },
        },
      });
      continue;
    }
    if (builtin && str(t.name) === "web_search") continue;
    let params: Json = {};
    const schema = t.input_schema as JVal | undefined;
    if (schema !== undefined && schema.end > schema.start) {
      const p = decodeGo(ToolFunctionParameters, schema);
      if (!p.ok) {
        return `invalid input_schema for tool ${JSON.stringify(str(t.name))}: ${
          goErrorMessage(p.error)
        }`;
      }
      params = (p.value as Json | undefined) ?? {};
    }
    tools.push({
      type: "function",
      function: { name: str(t.name), description: str(t.description), parameters: params },
    });
  }
  return { model: str(r.model), messages, tools, options };
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

const TypeRole = T.struct(
  '.struct { Type string "json:\\"type\\""; Role string "json:\\"role\\"" }',
  [["type", T.string], ["role", T.string]],
);
const TypeOnly = T.struct('.struct { Type string "json:\\"type\\"" }', [["type", T.string]]);

const CONTENT_TYPES: Record<string, GoType> = {
  input_text: T.struct("openai.ResponsesTextContent", [["type", T.string], ["text", T.string]]),
  input_image: T.struct("openai.ResponsesImageContent", [
    ["type", T.string],
    ["detail", T.string],
    ["file_id", T.string, "omitempty"],
    ["image_url", T.string, "omitempty"],
  ]),
  output_text: T.struct("openai.ResponsesOutputTextContent", [
    ["type", T.string],
    ["text", T.string],
  ]),
  input_file: T.struct("openai.ResponsesFileContent", [
    ["type", T.string],
    ["file_data", T.string, "omitempty"],
    ["file_id", T.string, "omitempty"],
    ["file_url", T.string, "omitempty"],
    ["filename", T.string, "omitempty"],
  ]),
};

/** fmt.Errorf("prefix: %w", err) around an error that ends decoding. */
function wrap(prefix: string, fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    if (err instanceof GoAbort) abort(`${prefix}: ${err.message}`);
    throw err;
  }
}

/** The message of json.Unmarshal(v, &t) failing. */
function failure(t: GoType, v: JVal): string {
  const r = decodeGo(t, v);
  return r.ok ? "" : goErrorMessage(r.error);
}

function responsesContent(v: JVal, d: Decoder): Json {
  const tf = d.nested(TypeOnly, v) as Json;
  const type = str(tf.type);
  const t = CONTENT_TYPES[type];
  if (!t) abort(`unknown content type: ${type}`);
  return d.nested(t, v) as Json;
}

function responsesContentList(what: string, v: JVal, d: Decoder): Json[] {
  const r = d.attempt(T.slice(T.raw), v);
  if (!r.ok) {
    abort(`${what} must be a string or array: ${failure(T.slice(T.raw), v)}`);
  }
  return (r.value as JVal[] | undefined ?? []).map((raw, i) =>
    wrap(`${what}[${i}]`, () => responsesContent(raw, d)) as Json
  );
}

const InputMessageAux = T.struct(
  '.struct { Type string "json:\\"type\\""; Role string "json:\\"role\\""; Content json.RawMessage "json:\\"content\\"" }',
  [["type", T.string], ["role", T.string], ["content", T.raw]],
);

const FunctionCall = T.struct("openai.ResponsesFunctionCall", [
  ["id", T.string, "omitempty"],
  ["type", T.string],
  ["call_id", T.string],
  ["name", T.string],
  ["arguments", T.string],
]);

const FunctionCallOutputAux = T.struct(
  '.struct { Type string "json:\\"type\\""; CallID string "json:\\"call_id\\""; Output json.RawMessage "json:\\"output\\"" }',
  [["type", T.string], ["call_id", T.string], ["output", T.raw]],
);

const ReasoningInput = T.struct("openai.ResponsesReasoningInput", [
  ["id", T.string, "omitempty"],
  ["type", T.string],
  [
    "summary",
    T.slice(T.struct("openai.ResponsesReasoningSummary", [["type", T.string], ["text", T.string]])),
    "omitempty",
  ],
  ["encrypted_content", T.string, "omitempty"],
]);

const WebSearchCall = T.struct("openai.ResponsesWebSearchCall", [
  ["id", T.string],
  ["type", T.string],
  ["status", T.string],
  ["action", T.any, "omitempty"],
]);

function responsesItem(v: JVal, d: Decoder): Json {
  const tr = d.nested(TypeRole, v) as Json;
  let type = str(tr.type);
  if (type === "" && str(tr.role) !== "") type = "message";
  switch (type) {
    case "message": {
      const aux = d.nested(InputMessageAux, v) as Json;
      const m: Json = { kind: "message", type: str(aux.type), role: str(aux.role), content: [] };
      const c = aux.content as JVal | undefined;
      if (c === undefined) return m;
      if (c.t === "str" || c.t === "null") {
        m.content = [{ type: "input_text", text: c.t === "str" ? c.v : "" }];
        return m;
      }
      m.content = responsesContentList("content", c, d);
      return m;
    }
    case "function_call":
      return { kind: "function_call", ...(d.nested(FunctionCall, v) as Json) };
    case "function_call_output": {
      const aux = d.nested(FunctionCallOutputAux, v) as Json;
      const o: Json = {
        kind: "function_call_output",
        type: str(aux.type),
        call_id: str(aux.call_id),
        output: "",
        items: [],
      };
      const out = aux.output as JVal | undefined;
      if (out === undefined) return o;
      if (out.t === "str" || out.t === "null") {
        o.output = out.t === "str" ? out.v : "";
        return o;
      }
      const items = responsesContentList("output", out, d);
      o.items = items;
      o.output = items
        .filter((c) => c.type === "input_text" || c.type === "output_text")
        .map((c) => str(c.text))
        .join("");
      return o;
    }
    case "reasoning":
      return { kind: "reasoning", ...(d.nested(ReasoningInput, v) as Json) };
    case "web_search_call":
      return { kind: "web_search_call", ...(d.nested(WebSearchCall, v) as Json) };
    default:
      if (type === "") abort("input item missing required 'type' field");
      abort(`unknown input item type: ${JSON.stringify(type)}`);
  }
}

/** openai.ResponsesInput: a string sets Text, an array sets Items (the other is kept). */
const ResponsesInput = T.custom("openai.ResponsesInput", (v, old, d) => {
  const r: Json = isObj(old) ? old : {};
  if (v.t === "str" || v.t === "null") {
    r.text = v.t === "str" ? v.v : "";
    return r;
  }
  const raw = d.attempt(T.slice(T.raw), v);
  if (!raw.ok) abort(`input must be a string or array: ${failure(T.slice(T.raw), v)}`);
  r.items = (raw.value as JVal[] | undefined ?? []).map((item, i) =>
    wrap(`input[${i}]`, () => responsesItem(item, d))
  );
  return r;
});

const ResponsesToolFields: Array<[string, GoType, string?]> = [];
const ResponsesTool = T.struct("openai.ResponsesTool", ResponsesToolFields);
ResponsesToolFields.push(
  ["type", T.string],
  ["name", T.string],
  ["description", T.ptr(T.string)],
  ["strict", T.ptr(T.bool)],
  ["parameters", T.map(T.any)],
  ["tools", T.slice(ResponsesTool), "omitempty"],
);
Object.assign(ResponsesTool, T.struct("openai.ResponsesTool", ResponsesToolFields));

/** openai.ResponsesRequest. */
export const ResponsesRequest = T.struct("openai.ResponsesRequest", [
  ["model", T.string],
  ["background", T.bool],
  ["conversation", T.raw],
  ["include", T.slice(T.string)],
  ["input", ResponsesInput],
  ["instructions", T.string, "omitempty"],
  ["max_output_tokens", T.ptr(T.int), "omitempty"],
  [
    "reasoning",
    T.struct("openai.ResponsesReasoning", [
      ["effort", T.string, "omitempty"],
      ["generate_summary", T.string, "omitempty"],
      ["summary", T.string, "omitempty"],
    ]),
  ],
  ["temperature", T.ptr(T.float64)],
  [
    "text",
    T.ptr(T.struct("openai.ResponsesText", [
      [
        "format",
        T.ptr(T.struct("openai.ResponsesTextFormat", [
          ["type", T.string],
          ["name", T.string, "omitempty"],
          ["schema", T.raw, "omitempty"],
          ["strict", T.ptr(T.bool), "omitempty"],
        ])),
        "omitempty",
      ],
    ])),
    "omitempty",
  ],
  ["top_p", T.ptr(T.float64)],
  ["truncation", T.ptr(T.string)],
  ["tools", T.slice(ResponsesTool), "omitempty"],
  ["stream", T.ptr(T.bool), "omitempty"],
]);

function convertResponsesContent(
  contents: Json[],
): { text: string; images: Uint8Array[] } | string {
  let text = "";
  const images: Uint8Array[] = [];
  for (const c of contents) {
    if (c.type === "input_text" || c.type === "output_text") text += str(c.text);
    else if (c.type === "input_image") {
      if (str(c.image_url) === "") continue;
      const img = decodeImageURL(str(c.image_url));
      if (typeof img === "string") return img;
      images.push(img);
    } else if (c.type === "input_file") return "file inputs are not currently supported";
  }
  return { text, images };
}

function convertResponsesTools(t: Json): Json[] | string {
  if (str(t.type) !== "namespace") {
    let params: Json = {};
    if (isObj(t.parameters)) {
      const p = remarshal(ToolFunctionParameters, t.parameters);
      if (!p) return "failed to unmarshal tool parameters";
      params = p;
    }
    return [{
      type: str(t.type),
      function: { name: str(t.name), description: str(t.description), parameters: params },
    }];
  }
  const out: Json[] = [];
  for (const member of list(t.tools)) {
    const expanded = convertResponsesTools(member);
    if (typeof expanded === "string") return expanded;
    for (const e of expanded) {
      const fn = e.function as Json;
      const prefix = str(t.name) + ".";
      if (str(t.name) !== "" && !str(fn.name).startsWith(prefix)) fn.name = prefix + str(fn.name);
    }
    out.push(...expanded);
  }
  return out;
}

/** openai.FromResponsesRequest. */
export function fromResponsesRequest(r: Json): NativeChat | string {
  const messages: Json[] = [];
  if (str(r.instructions) !== "") messages.push({ role: "system", content: r.instructions });
  const input = isObj(r.input) ? r.input : {};
  if (str(input.text) !== "") messages.push({ role: "user", content: input.text });
  const items = list(input.items);
  let pending = "";
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    switch (item.kind) {
      case "reasoning":
        pending = str(item.encrypted_content);
        break;
      case "message": {
        const c = convertResponsesContent(list(item.content));
        if (typeof c === "string") return c;
        const msg: Json = { role: str(item.role), content: c.text, images: c.images };
        if (msg.role === "assistant" && pending !== "") {
          msg.thinking = pending;
          pending = "";
        }
        const next = items[i + 1];
        const outputCallID = next?.kind === "function_call_output" ? str(next.call_id) : "";
        const last = messages[messages.length - 1];
        if (
          msg.role === "assistant" && outputCallID !== "" && last?.role === "assistant" &&
          list(last.tool_calls).some((tc) => tc.id === outputCallID)
        ) {
          if (str(last.content) !== "" && c.text !== "") last.content = str(last.content) + "\n";
          last.content = str(last.content) + c.text;
          last.images = [...list<Uint8Array>(last.images), ...c.images];
          if (str(msg.thinking) !== "") last.thinking = msg.thinking;
          continue;
        }
        messages.push(msg);
        break;
      }
      case "function_call": {
        let args: Json = {};
        if (str(item.arguments) !== "") {
          const parsed = unmarshal(ToolCallFunctionArguments, str(item.arguments));
          if (!parsed.ok) return `failed to parse function call arguments: ${parsed.message}`;
          args = parsed.value as Json;
        }
        const call = {
          id: str(item.call_id),
          function: { index: 0, name: str(item.name), arguments: args },
        };
        const last = messages[messages.length - 1];
        if (last?.role === "assistant") {
          last.tool_calls = [...list(last.tool_calls), call];
          if (pending !== "") {
            last.thinking = pending;
            pending = "";
          }
        } else {
          const msg: Json = { role: "assistant", content: "", tool_calls: [call] };
          if (pending !== "") {
            msg.thinking = pending;
            pending = "";
          }
          messages.push(msg);
        }
        break;
      }
      case "function_call_output": {
        let content = str(item.output);
        let images: Uint8Array[] = [];
        if (list(item.items).length > 0) {
          const c = convertResponsesContent(list(item.items));
          if (typeof c === "string") return c;
          content = c.text;
          images = c.images;
        }
        messages.push({ role: "tool", content, images, tool_call_id: str(item.call_id) });
        break;
      }
    }
  }
  if (pending !== "") messages.push({ role: "assistant", content: "", thinking: pending });
  const options: Json = { temperature: r.temperature ?? 1.0 };
  if (r.top_p !== undefined) options.top_p = r.top_p;
  if (r.max_output_tokens !== undefined) options.num_predict = r.max_output_tokens;
  const reasoning = isObj(r.reasoning) ? r.reasoning : {};
  const effortErr = reasoningEffortError(str(reasoning.effort));
  if (effortErr) return effortErr;
  const tools: Json[] = [];
  const rtools = list(r.tools);
  const hasWebSearch = rtools.some((t) => t.type === "web_search");
  for (const t of rtools) {
    if (t.type === "web_search") {
      tools.push({
        type: "function",
        function: {
          name: "web_search",
          description: "Search the web for current information.",
          parameters: {
            type: "object",
            required: ["query"],
            properties: { query: { type: ["string"], description: "The search query." } },
          },
        },
      });
      continue;
    }
    const expanded = convertResponsesTools(t);
    if (typeof expanded === "string") return expanded;
    for (const tool of expanded) {
      if (hasWebSearch && str((tool.function as Json).name) === "web_search") continue;
      tools.push(tool);
    }
  }
  return { model: str(r.model), messages, tools, options };
}
