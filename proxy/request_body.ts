/**
 * Reading and validating inference request bodies (zod). Unknown fields pass through untouched.
 * @module
 */
import { z } from "zod";
import { ProxyError } from "./errors.ts";

const model = z.string().nullish();
const stream = z.boolean().nullish();
const maxTokens = z.number().int().min(0).nullish();
const options = z.looseObject({ num_predict: z.number().int().nullish() }).nullish();
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
    max_tokens: z.number().int().positive(),
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
    throw new ProxyError(
      400,
      `Cannot parse request body: ${(err as Error).message}`,
      "invalid_json",
    );
  }
  const result = SCHEMAS[path].safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue.path.length ? issue.path.join(".") : "body";
    throw new ProxyError(400, `Invalid request body: ${where}: ${issue.message}`, "invalid_body");
  }
  return result.data;
}
