import assert from "node:assert/strict";
import { gatewayTest } from "../support/gateway.ts";
import { mockAnswer } from "../support/mock_ollama.ts";
import { caught, collect, ollamaFor, stable, type Target } from "./clients.ts";

// ollama-js, the official Ollama client, with only its host and an Authorization header set.
const messages = [{ role: "user", content: "Say hi" }];

/** ollama-js throws its ResponseError (not exported by the package) for non-2xx answers. */
function responseError(err: unknown): { error: string; status_code: number } {
  assert.ok(err instanceof Error && err.name === "ResponseError", String(err));
  return err as Error & { error: string; status_code: number };
}

gatewayTest("ollama-js: chat, plain and streamed, is the same through the gateway", async (t) => {
  const { key, id } = await t.createKey();
  const plain = (target: Target) =>
    ollamaFor(t, target, key).chat({ model: "llama3", messages, stream: false });
  const via = await plain("gateway");
  assert.deepEqual(stable(via), stable(await plain("ollama")));
  assert.equal(via.message.content, mockAnswer(3));
  const streamed = async (target: Target) =>
    collect(await ollamaFor(t, target, key).chat({ model: "llama3", messages, stream: true }));
  const parts = await streamed("gateway");
  assert.deepEqual(stable(parts), stable(await streamed("ollama")));
  assert.equal(parts.map((p) => p.message.content).join(""), mockAnswer(3));
  assert.equal(parts.at(-1)!.done, true);
  assert.equal((await t.usageWhen(id, (u) => u.today.tokens >= 20)).today.tokens, 20);
});

gatewayTest(
  "ollama-js: generate, plain and streamed, is the same through the gateway",
  async (t) => {
    const { key, id } = await t.createKey();
    const plain = (target: Target) =>
      ollamaFor(t, target, key).generate({ model: "llama3", prompt: "Say hi", stream: false });
    const via = await plain("gateway");
    assert.deepEqual(stable(via), stable(await plain("ollama")));
    assert.equal(via.response, mockAnswer(3));
    const streamed = async (target: Target) =>
      collect(
        await ollamaFor(t, target, key).generate({
          model: "llama3",
          prompt: "Say hi",
          stream: true,
        }),
      );
    const parts = await streamed("gateway");
    assert.deepEqual(stable(parts), stable(await streamed("ollama")));
    assert.equal(parts.map((p) => p.response).join(""), mockAnswer(3));
    const usage = await t.usageWhen(id, (u) => u.today.completion_tokens >= 6);
    assert.equal(usage.today.completion_tokens, 6);
  },
);

gatewayTest("ollama-js: embed is the same through the gateway and counted", async (t) => {
  const { key, id } = await t.createKey();
  const call = (target: Target) =>
    ollamaFor(t, target, key).embed({ model: "all-minilm", input: ["a", "b"] });
  const via = await call("gateway");
  assert.deepEqual(stable(via), stable(await call("ollama")));
  assert.equal(via.embeddings.length, 2);
  assert.equal((await t.usage(id)).today.prompt_tokens, via.prompt_eval_count);
});

gatewayTest("ollama-js: list, show, ps and version are the same and not counted", async (t) => {
  const { key, id } = await t.createKey();
  // Load a model first so that ps has something to show.
  await ollamaFor(t, "ollama", key).generate({ model: "llama3", prompt: "x", stream: false });
  for (
    const call of [
      (target: Target) => ollamaFor(t, target, key).list(),
      (target: Target) => ollamaFor(t, target, key).show({ model: "llama3" }),
      (target: Target) => ollamaFor(t, target, key).ps(),
      (target: Target) => ollamaFor(t, target, key).version(),
    ]
  ) {
    assert.deepEqual(stable(await call("gateway")), stable(await call("ollama")));
  }
  const ps = await ollamaFor(t, "gateway", key).ps();
  assert.deepEqual(ps.models.map((m) => m.name), ["llama3:latest"]);
  assert.equal((await ollamaFor(t, "gateway", key).version()).version, "0.33.0");
  assert.equal((await t.usage(id)).today.requests, 0);
});

gatewayTest(
  "ollama-js: gateway errors are ResponseErrors with its message and status",
  async (t) => {
    const { key } = await t.createKey({ daily_request_limit: 1 });
    // A client pointed at the gateway without the Authorization header.
    const noKey = responseError(
      await caught(() => ollamaFor(t, "ollama", "", t.gateway.proxyUrl).list()),
    );
    assert.equal(noKey.status_code, 401);
    assert.match(noKey.error, /^Missing API key/);

    const client = ollamaFor(t, "gateway", key);
    await client.chat({ model: "llama3", messages });
    const quota = responseError(await caught(() => client.chat({ model: "llama3", messages })));
    assert.equal(quota.status_code, 429);
    assert.match(quota.error, /^Daily request limit reached \(1 request per day\)/);

    const pull = responseError(await caught(() => client.pull({ model: "llama3" })));
    assert.equal(pull.status_code, 403);
    assert.match(pull.error, /Model management is not allowed/);
  },
);

gatewayTest("ollama-js: Ollama's own errors reach it unchanged", async (t) => {
  const { key } = await t.createKey();
  const missing = responseError(
    await caught(() => ollamaFor(t, "gateway", key).show({ model: "nope" })),
  );
  assert.equal(missing.status_code, 404);
  assert.equal(missing.error, "model 'nope' not found");
  // An error line in the middle of a stream makes the client's iterator throw.
  t.mock.set({ chunks: 5, failMidStreamAfter: 2 });
  const stream = await ollamaFor(t, "gateway", key).chat({
    model: "llama3",
    messages,
    stream: true,
  });
  const broken = await caught(() => collect(stream));
  assert.match(String(broken), /an error was encountered while running the model/);
});
