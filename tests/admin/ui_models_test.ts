import { setOllamaUrl } from "../../ops/upstreams.ts";
import assert from "node:assert/strict";
import type { UiFixture } from "./ui_fixture.ts";
import { uiTest } from "./ui_fixture.ts";

/** The "Keys" cell of a model's row on the Models page, tags stripped, spaces squeezed. */
async function keysOf(f: UiFixture, model: string): Promise<string> {
  const html = await (await f.request("/models")).text();
  const row = new RegExp(`<tr><td data-label="Name"><code>${model}</code>[\\s\\S]*?</tr>`)
    .exec(html)?.[0];
  assert.ok(row, `a row for ${model}`);
  const cell = /<td data-label="Keys" class="model-keys">([\s\S]*?)<\/td>/.exec(row)![1];
  return cell.replace(/<li[^>]*>/g, " ").replace(/<[^>]+>/g, "").replace(/\s+/g, " ").trim();
}

uiTest("the models page shows which keys may use each model", async (f) => {
  await f.signIn();
  assert.equal(await keysOf(f, "llama3:latest"), "No keys yet");
  await f.createKey({ name: "Alice" });
  await f.createKey({ name: "Bob" });
  assert.equal(await keysOf(f, "llama3:latest"), "Every key", "no key has a model list");

  // Ollama's naming rules and family globs, as the proxy applies them.
  await f.createKey({ name: "Carol", models: "llama3" });
  await f.createKey({ name: "Dave", models: "llama3.2:*, all-minilm:latest" });
  await f.createKey({ name: "Eve", models: "lama3" });
  assert.equal(await keysOf(f, "llama3:latest"), "2 keys without a model list Carol");
  assert.equal(await keysOf(f, "llama3.2:latest"), "2 keys without a model list Dave");
  assert.equal(await keysOf(f, "all-minilm:latest"), "2 keys without a model list Dave");
  const html = await (await f.request("/models")).text();
  assert.match(html, /<li class="muted" title="Alice, Bob">2 keys without a model list<\/li>/);
  assert.match(html, /<a class="chip" href="\/keys\?name=Carol">Carol<\/a>/);
  // A list entry no installed model matches is pointed out: usually a typo.
  assert.match(
    html,
    /<div class="notice warning" role="status">[\s\S]*?name no installed model[\s\S]*?<a href="\/keys\?name=Eve">Eve<\/a>: <code>lama3<\/code>/,
  );
  assert.doesNotMatch(html, /Carol<\/a>: <code>/, "llama3 is installed");
});

uiTest("a model no key may use says so; cloud models follow the gateway's setting", async (f) => {
  f.mock.set({ models: ["llama3:latest", "qwen3:cloud"] });
  await f.signIn();
  await f.createKey({ name: "Carol", models: "qwen3:*" });
  assert.equal(await keysOf(f, "llama3:latest"), "No key");
  assert.equal(await keysOf(f, "qwen3:cloud"), "No key: cloud models are switched off");
  await f.deps.settings.update({ allow_cloud_models: true });
  assert.equal(await keysOf(f, "qwen3:cloud"), "Carol");
});

uiTest("key names on the models page are escaped, in text and in links", async (f) => {
  await f.signIn();
  const evil = `<img src=x onerror=alert(1)>&"`;
  await f.createKey({ name: evil, models: "llama3, nothing-installed" });
  const html = await (await f.request("/models")).text();
  assert.ok(!html.includes("<img src=x"), "never raw");
  assert.match(html, /href="\/keys\?name=%3Cimg%20src%3Dx%20onerror%3Dalert\(1\)%3E%26%22"/);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;&amp;&quot;<\/a>/);
});

uiTest("with Ollama down the models page calls no list entry a typo", async (f) => {
  await f.signIn();
  await setOllamaUrl(f.deps, "http://127.0.0.1:9");
  await f.createKey({ name: "Carol", models: "llama3" });
  const res = await f.request("/models");
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /role="alert">Cannot reach Ollama/);
  assert.doesNotMatch(html, /name no installed model/, "nothing is called a typo without a list");
});
