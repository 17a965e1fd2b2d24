/**
 * The Go request structs Ollama decodes each inference body into (Ollama v0.33: api/types.go,
 * openai/openai.go, openai/responses.go, anthropic/anthropic.go), as far as decoding depends on
 * them: every level the gateway reads a field from is described, so case variants of those
 * fields are folded onto one key before anything is read (core/go_json.ts). Fields typed `any`
 * or `json.RawMessage` in Go are read by Ollama with exact keys, and so are they here.
 * @module
 */
import { array, type GoShape, map, struct, value } from "../core/go_json.ts";

const toolCall = struct({
  id: value,
  type: value,
  function: struct({ index: value, name: value, arguments: value }),
});

/** api.Tool: `{type, function: {name, description, parameters}}`. */
const nativeTool = struct({
  type: value,
  items: value,
  function: struct({ name: value, description: value, parameters: value }),
});

/** api.Message. */
const nativeMessage = struct({
  role: value,
  content: value,
  thinking: value,
  images: value,
  tool_calls: array(toolCall),
  tool_name: value,
  tool_call_id: value,
});

const nativeCommon = {
  model: value,
  stream: value,
  format: value,
  keep_alive: value,
  options: map,
  think: value,
  truncate: value,
  shift: value,
  _debug_render_only: value,
  logprobs: value,
  top_logprobs: value,
};

/** api.ChatRequest. */
export const CHAT_REQUEST: GoShape = struct({
  ...nativeCommon,
  messages: array(nativeMessage),
  tools: array(nativeTool),
});

/** api.GenerateRequest. */
export const GENERATE_REQUEST: GoShape = struct({
  ...nativeCommon,
  prompt: value,
  suffix: value,
  system: value,
  template: value,
  context: value,
  raw: value,
  images: value,
});

/** api.EmbedRequest. */
export const EMBED_REQUEST: GoShape = struct({
  model: value,
  input: value,
  keep_alive: value,
  truncate: value,
  dimensions: value,
  options: map,
});

/** api.EmbeddingRequest (the legacy /api/embeddings). */
export const EMBEDDING_REQUEST: GoShape = struct({
  model: value,
  prompt: value,
  keep_alive: value,
  options: map,
});

/** api.ShowRequest (`name` is the older spelling of `model`). */
export const SHOW_REQUEST: GoShape = struct({
  model: value,
  name: value,
  system: value,
  template: value,
  verbose: value,
  options: map,
});

const streamOptions = struct({ include_usage: value });

/** openai.Message: `content` is `any` (a string or parts read with exact keys). */
const openaiMessage = struct({
  role: value,
  content: value,
  reasoning: value,
  tool_calls: array(toolCall),
  name: value,
  tool_call_id: value,
});

/** openai.ChatCompletionRequest (it has no `max_completion_tokens`: Ollama ignores that). */
export const CHAT_COMPLETION_REQUEST: GoShape = struct({
  model: value,
  messages: array(openaiMessage),
  stream: value,
  stream_options: streamOptions,
  max_tokens: value,
  seed: value,
  stop: value,
  temperature: value,
  frequency_penalty: value,
  presence_penalty: value,
  top_p: value,
  response_format: struct({ type: value, json_schema: value }),
  tools: array(nativeTool),
  reasoning: struct({ effort: value }),
  reasoning_effort: value,
  logprobs: value,
  top_logprobs: value,
  _debug_render_only: value,
});

/** openai.CompletionRequest. */
export const COMPLETION_REQUEST: GoShape = struct({
  model: value,
  prompt: value,
  frequency_penalty: value,
  max_tokens: value,
  presence_penalty: value,
  seed: value,
  stop: value,
  stream: value,
  stream_options: streamOptions,
  temperature: value,
  top_p: value,
  suffix: value,
  logprobs: value,
  _debug_render_only: value,
});

/** openai.EmbedRequest. */
export const OPENAI_EMBED_REQUEST: GoShape = struct({
  input: value,
  model: value,
  dimensions: value,
  encoding_format: value,
});

/** anthropic.ContentBlock; a tool result's `content` is `any` (exact keys). */
const contentBlock = struct({
  type: value,
  text: value,
  citations: value,
  source: struct({ type: value, media_type: value, data: value, url: value }),
  id: value,
  name: value,
  input: value,
  tool_use_id: value,
  is_error: value,
  content: value,
  thinking: value,
  signature: value,
});

/** anthropic.MessagesRequest. */
export const MESSAGES_REQUEST: GoShape = struct({
  model: value,
  max_tokens: value,
  messages: array(struct({ role: value, content: array(contentBlock) })),
  system: value, // `any`: a string or blocks read with exact keys
  stream: value,
  temperature: value,
  top_p: value,
  top_k: value,
  stop_sequences: value,
  tools: array(
    struct({ type: value, name: value, description: value, input_schema: value, max_uses: value }),
  ),
  tool_choice: value,
  thinking: struct({ type: value, budget_tokens: value }),
  metadata: value,
  output_config: value,
});

/** openai.ResponsesTool (a `namespace` tool nests its member tools). */
const responsesToolFields: Record<string, GoShape> = {
  type: value,
  name: value,
  description: value,
  strict: value,
  parameters: value,
};
const responsesTool = struct({
  ...responsesToolFields,
  tools: array(struct(responsesToolFields)),
});

/** One Responses input item: a message, a function call or its output, or reasoning. */
const responsesItem = struct({
  type: value,
  role: value,
  content: array(
    struct({
      type: value,
      text: value,
      detail: value,
      file_id: value,
      image_url: value,
      file_data: value,
      file_url: value,
      filename: value,
    }),
  ),
  id: value,
  call_id: value,
  name: value,
  arguments: value,
  output: value,
  summary: value,
  encrypted_content: value,
});

/** openai.ResponsesRequest. */
export const RESPONSES_REQUEST: GoShape = struct({
  model: value,
  background: value,
  conversation: value,
  include: value,
  input: array(responsesItem),
  instructions: value,
  max_output_tokens: value,
  reasoning: struct({ effort: value, generate_summary: value, summary: value }),
  temperature: value,
  text: struct({
    format: struct({ type: value, name: value, schema: value, strict: value }),
  }),
  top_p: value,
  truncation: value,
  tools: array(responsesTool),
  stream: value,
});
