/**
 * What the hardening tests send: a valid body for every inference route, and the error message
 * out of any client family's error body.
 * @module
 */

/** A one-message conversation. */
export const messages = [{ role: "user", content: "Say hi" }];

/** A small valid request body for each inference route (non-streaming where it matters). */
export const VALID_BODIES: Readonly<Record<string, Record<string, unknown>>> = {
  "/api/chat": { model: "llama3", messages, stream: false },
  "/api/generate": { model: "llama3", prompt: "Say hi", stream: false },
  "/api/embed": { model: "all-minilm", input: "Say hi" },
  "/api/embeddings": { model: "all-minilm", prompt: "Say hi" },
  "/v1/chat/completions": { model: "llama3", messages },
  "/v1/completions": { model: "llama3", prompt: "Say hi" },
  "/v1/embeddings": { model: "all-minilm", input: "Say hi" },
  "/v1/messages": { model: "llama3", max_tokens: 16, messages },
  "/v1/responses": { model: "llama3", input: "Say hi" },
};

/** The message of an Ollama (`{error}`), OpenAI or Anthropic (`{error:{message}}`) error body. */
export function errorMessage(body: unknown): string {
  const error = (body as { error?: unknown } | null)?.error;
  if (typeof error === "string") return error;
  const message = (error as { message?: unknown } | undefined)?.message;
  if (typeof message === "string") return message;
  throw new Error(`not an error body: ${JSON.stringify(body)}`);
}
