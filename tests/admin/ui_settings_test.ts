import assert from "node:assert/strict";
import { startUi, uiTest } from "./ui_fixture.ts";

const DEAD = "http://127.0.0.1:9";

uiTest("the settings page shows the URL and a model choice from Ollama's live list", async (f) => {
  await f.signIn();
  const res = await f.request("/settings");
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /<label for="ollama_url">Ollama URL<\/label>/);
  assert.ok(html.includes(`value="${f.mock.url}"`));
  assert.match(html, /<select id="default_model" name="default_model"/);
  // "llama3" is what Ollama calls llama3:latest, so that entry is the one selected.
  assert.match(html, /<option value="llama3:latest" selected>llama3:latest<\/option>/);
  assert.match(html, /<option value="llama3.2:latest" >llama3.2:latest<\/option>/);
  assert.doesNotMatch(html, /not installed/);
  assert.match(html, /formaction="\/settings\/test"/);
});

uiTest("with Ollama down the default model becomes a text field with the reason", async (f) => {
  await f.signIn();
  await f.deps.settings.update({ ollama_url: DEAD, default_model: "mistral" });
  const html = await (await f.request("/settings")).text();
  assert.match(html, /<input id="default_model" name="default_model" type="text" value="mistral"/);
  assert.match(
    html,
    /The model list is not available \(Cannot reach Ollama at http:\/\/127.0.0.1:9/,
  );
});

uiTest("saving settings applies to the next proxied request", async (f) => {
  await f.signIn();
  const { key } = await f.createKey({ name: "Alice" });
  const res = await f.post("/settings", {
    ollama_url: f.mock.url + "/",
    default_model: "llama3.2",
  });
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /Settings saved. The next proxied request uses them./);
  assert.deepEqual(await f.deps.settings.get(), {
    ollama_url: f.mock.url,
    default_model: "llama3.2",
  });
  assert.equal((await f.chat(key, { model: undefined })).status, 200);
  assert.equal((f.mock.requests.at(-1)!.body as { model: string }).model, "llama3.2");
});

uiTest("an htmx save answers the settings section only", async (f) => {
  await f.signIn();
  const res = await f.post("/settings", { ollama_url: f.mock.url, default_model: "x" }, {
    htmx: true,
  });
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /^<section id="settings"/);
  assert.doesNotMatch(html, /<html/);
});

uiTest("settings errors show next to the fields, keep the values and save nothing", async (f) => {
  await f.signIn();
  const res = await f.post("/settings", { ollama_url: "ftp://x", default_model: "  " });
  assert.equal(res.status, 422);
  const html = await res.text();
  assert.match(html, /id="ollama_url-error">Enter an http:\/\/ or https:\/\/ address/);
  assert.match(html, /id="default_model-error">Choose or type a model name/);
  assert.match(html, /value="ftp:\/\/x"/);
  assert.equal((await f.deps.settings.get()).ollama_url, f.mock.url);
  const htmx = await f.post("/settings", { ollama_url: "nope" }, { htmx: true });
  assert.equal(htmx.status, 422);
  assert.match(await htmx.text(), /^<section id="settings"[\s\S]*field-error/);
});

uiTest("test connection shows Ollama's version and refreshes the model choice", async (f) => {
  await f.signIn();
  const res = await f.post("/settings/test", {
    ollama_url: f.mock.url,
    default_model: "llama3.2:latest",
  }, {
    htmx: true,
  });
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /^<div id="connection-result"/);
  assert.match(html, /Connected to Ollama 0.33.0 at http:\/\/127.0.0.1:\d+ \(3 models installed\)/);
  assert.match(html, /<div id="model-field" class="field" hx-swap-oob="true">/);
  assert.match(html, /<option value="llama3.2:latest" selected>/);
});

uiTest("test connection shows the exact error and does not save the URL", async (f) => {
  await f.signIn();
  const res = await f.post("/settings/test", { ollama_url: DEAD, default_model: "llama3" });
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /<!doctype html>/i, "without JS the whole page comes back");
  assert.match(html, /role="alert">Cannot reach Ollama at http:\/\/127.0.0.1:9: [^<]+</);
  assert.match(html, /value="http:\/\/127.0.0.1:9"/, "the typed URL is kept");
  assert.match(html, /<input id="default_model" name="default_model" type="text" value="llama3"/);
  assert.equal((await f.deps.settings.get()).ollama_url, f.mock.url);

  const bad = await f.post("/settings/test", { ollama_url: "not a url" }, { htmx: true });
  assert.match(await bad.text(), /Enter an http:\/\/ or https:\/\/ address/);
});

uiTest("the models page lists name, size, family and quantization", async (f) => {
  await f.signIn();
  const res = await f.request("/models");
  assert.equal(res.status, 200);
  const html = await res.text();
  const row = /<tr><td data-label="Name"><code>llama3:latest<\/code>[\s\S]*?<\/tr>/.exec(html)![0];
  assert.match(row, /badge info">default</);
  assert.match(row, /data-label="Family">llama</);
  assert.match(row, /data-label="Parameters">3.2B</);
  assert.match(row, /data-label="Quantization">Q4_K_M</);
  assert.match(row, /data-label="Size" class="num">2.0 GB</);
  assert.match(html, /<code>all-minilm:latest<\/code>[\s\S]*?bert[\s\S]*?F16[\s\S]*?46.0 MB/);
  assert.doesNotMatch(html, /<form method="post"[^>]*models/, "read-only");
});

uiTest("the models page says why when Ollama cannot be reached", async (f) => {
  await f.signIn();
  await f.deps.settings.update({ ollama_url: DEAD });
  const res = await f.request("/models");
  assert.equal(res.status, 200);
  assert.match(await res.text(), /role="alert">Cannot reach Ollama at http:\/\/127.0.0.1:9/);
});

uiTest("the proxy page gives base URLs and snippets filled with the proxy URL", async (f) => {
  await f.signIn();
  await f.deps.settings.update({ default_model: "llama3.2" });
  const html = await (await f.request("/proxy")).text();
  assert.match(html, /<code id="url-ollama">http:\/\/127.0.0.1:8000<\/code>/);
  assert.match(html, /<code id="url-openai">http:\/\/127.0.0.1:8000\/v1<\/code>/);
  for (
    const title of [
      "curl (OpenAI-compatible)",
      "curl (Ollama API)",
      "OpenAI SDK for Python",
      "OpenAI SDK for JavaScript",
      "Ollama client for Python",
      "Ollama client for JavaScript",
    ]
  ) {
    assert.ok(html.includes(`>${title}</h2>`), title);
  }
  assert.match(html, /curl http:\/\/127.0.0.1:8000\/v1\/chat\/completions/);
  assert.match(html, /base_url=&quot;http:\/\/127.0.0.1:8000\/v1&quot;/);
  assert.match(html, /host: &quot;http:\/\/127.0.0.1:8000&quot;/);
  assert.match(html, /model: &quot;llama3.2&quot;/);
  assert.match(html, /data-copy="snippet-curl-openai"/);
});

Deno.test("on a wildcard bind the proxy URL takes the host name the admin was reached by", async () => {
  // The admin answers to gw.internal only when it is one of its names.
  const f = await startUi({ ADMIN_ALLOWED_HOSTS: "gw.internal" });
  try {
    await f.signIn();
    f.deps.config.proxyHost = "0.0.0.0";
    const html = await (await f.request("/proxy", { headers: { host: "gw.internal:8001" } }))
      .text();
    assert.match(html, /<code id="url-ollama">http:\/\/gw.internal:8000<\/code>/);
  } finally {
    await f.close();
  }
});
