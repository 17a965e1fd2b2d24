/**
 * Reading and validating inference request bodies (zod). Unknown fields pass through untouched.
 * @module
 */
import { z } from "zod";
import { ProxyError } from "./errors.ts";

const model = z.string().nullish();
const stream = z.boolean().nullish();
// Whole numbers only, and only as large as JSON numbers stay exact (1e308 or 1e20 are refused).
const SAFE = Number.MAX_SAFE_INTEGER;
const wholeNumber = (min: number) => {
  const message = `must be a whole number from ${min} to ${SAFE}`;
  return z.number({ error: (i) => i.input === undefined ? "is required" : message }).int(message)
    .min(min, message);
};
const maxTokens = wholeNumber(0).nullish();
const options = z.looseObject({ num_predict: wholeNumber(-SAFE).nullish() }).nullish();
const streamOptions = z.looseObject({ include_usage: z.boolean().nullish() }).nullish();
const message = z.looseObject({ role: z.string() });
const stringOrList = z.union([z.string(), z.array(z.string())]);

const SCHEMAS: Record<string, z.ZodType<Record<string, unknown>>> = {
  "/api/chat": z.looseObject({ model, stream, options, messages: z.array(message).nullish() }),
  "/api/generate": z.looseObject({
    model,
    stream,
    options,
    prompt: z.string().nullish(),
    system: z.string().nullish(),
  }),
  "/api/embed": z.looseObject({ model, options, input: stringOrList.nullish() }),
  "/api/embeddings": z.looseObject({ model, options, prompt: z.string().nullish() }),
  "/v1/chat/completions": z.looseObject({
    model,
    stream,
    stream_options: streamOptions,
    max_tokens: maxTokens,
    max_completion_tokens: maxTokens,
    messages: z.array(message),
  }),
  "/v1/completions": z.looseObject({
    model,
    stream,
    stream_options: streamOptions,
    max_tokens: maxTokens,
    prompt: z.string(),
  }),
  "/v1/embeddings": z.looseObject({ model, input: stringOrList }),
  // Anthropic Messages: max_tokens is required there, as it is by Ollama's compat layer.
  "/v1/messages": z.looseObject({
    model,
    stream,
    max_tokens: wholeNumber(1),
    messages: z.array(message),
  }),
  "/v1/responses": z.looseObject({
    model,
    stream,
    max_output_tokens: maxTokens,
    instructions: z.string().nullish(),
    input: z.union([z.string(), z.array(z.looseObject({}))]).nullish(),
  }),
};

/** Content types accepted for a JSON body; curl's default form type is what Ollama's docs use. */
function acceptsContentType(value: string | null): boolean {
  if (value === null) return true;
  const type = value.split(";")[0].trim().toLowerCase();
  return type === "" || type === "application/json" || type.endsWith("+json") ||
    type === "application/x-www-form-urlencoded" || type === "text/plain";
}

/** Reads and validates the JSON body of an inference route, or throws a 400 ProxyError. */
export async function readInferenceBody(
  req: Request,
  path: string,
): Promise<Record<string, unknown>> {
  if (!acceptsContentType(req.headers.get("content-type"))) {
    throw new ProxyError(
      400,
      `Cannot read request body: content type ${
        req.headers.get("content-type")
      } is not supported, send application/json`,
      "invalid_content_type",
    );
  }
  let text: string;
  try {
    // Fatal decoding: a body that is not UTF-8 is refused, not silently mangled.
    text = new TextDecoder("utf-8", { fatal: true }).decode(await req.arrayBuffer());
  } catch (err) {
    if (err instanceof ProxyError) throw err;
    throw new ProxyError(400, "Cannot read request body: it is not valid UTF-8", "invalid_body");
  }
  if (text.trim() === "") throw new ProxyError(400, "missing request body", "missing_body");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // V8 quotes an excerpt of the text ("Unexpected token 'x', "{"key":"sk-…"... is not valid
    // JSON"): the body may hold a secret, so only the reason and the position are kept.
    const reason = (err as Error).message.replace(/, (?:\.\.\.)?".*$/s, "");
    throw new ProxyError(400, `Cannot parse request body: ${reason}`, "invalid_json");
  }
  const result = SCHEMAS[path].safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue.path.length ? issue.path.join(".") : "body";
    throw new ProxyError(400, `Invalid request body: ${where}: ${issue.message}`, "invalid_body");
  }
  return result.data;
}
