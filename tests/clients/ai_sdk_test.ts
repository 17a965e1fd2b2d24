import assert from "node:assert/strict";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { streamText } from "ai";
import { gatewayTest, type TestGateway } from "../support/gateway.ts";
import { mockAnswer } from "../support/mock_ollama.ts";
import type { Target } from "./clients.ts";

// A higher-level library on top: the Vercel AI SDK with its OpenAI-compatible provider, the way
// apps built on it are pointed at Ollama.

/** Streams a chat with the AI SDK and returns the text, the usage and how many parts arrived. */
async function streamChat(t: TestGateway, target: Target, key: string) {
  const provider = createOpenAICompatible({
    name: "ollama",
    baseURL: (target === "gateway" ? t.gateway.proxyUrl : t.mock.url) + "/v1",
    apiKey: target === "gateway" ? key : "ollama",
    includeUsage: true,
  });
  const result = streamText({ model: provider.chatModel("llama3"), prompt: "Say hi" });
  const parts: string[] = [];
  for await (const part of result.textStream) parts.push(part);
  return { parts, text: await result.text, usage: await result.usage };
}

gatewayTest("Vercel AI SDK: streamText completes a chat through the gateway", async (t) => {
  const { key, id } = await t.createKey();
  const via = await streamChat(t, "gateway", key);
  const direct = await streamChat(t, "ollama", key);
  assert.equal(via.text, mockAnswer(3));
  assert.deepEqual(via.parts, direct.parts);
  assert.equal(via.usage.inputTokens, 7);
  assert.equal(via.usage.outputTokens, 3);
  assert.deepEqual(via.usage, direct.usage);
  assert.equal((await t.usageWhen(id, (u) => u.today.tokens >= 10)).today.tokens, 10);
});
