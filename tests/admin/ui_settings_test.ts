import { setOllamaUrl } from "../../ops/upstreams.ts";
import assert from "node:assert/strict";
import { refusedPort } from "../support/ports.ts";
import { testDialects } from "../support/databases.ts";
import { startUi, type UiFixture, uiTest } from "./ui_fixture.ts";

// An Ollama that is not running: its port refuses connections.
const DEAD = `http://127.0.0.1:${refusedPort()}`;
const DEAD_RE = DEAD.replaceAll(".", "\\.").replaceAll("/", "\\/");

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
  await setOllamaUrl(f.deps, DEAD);
  await f.deps.settings.update({ default_model: "mistral" });
  const html = await (await f.request("/settings")).text();
  assert.match(html, /<input id="default_model" name="default_model" type="text" value="mistral"/);
  assert.match(
    html,
    new RegExp(
      `The model list is not available: Cannot reach Ollama at ${DEAD_RE}: the connection was refused\\. Is Ollama running`,
    ),
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
  const saved = await f.deps.settings.get();
  assert.deepEqual(
    [saved.ollama_url, saved.default_model, saved.public_url],
    [f.mock.url, "llama3.2", ""],
    "a form without the public URL field leaves it alone",
  );
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
  assert.match(
    html,
    new RegExp(
      `role="alert">Cannot reach Ollama at ${DEAD_RE}: the connection was refused\\. [^<]+<`,
    ),
  );
  // What to do, not Deno's bare "fetch failed".
  assert.match(html, /Is Ollama running \(ollama serve\), on that host and port\?/);
  assert.doesNotMatch(html, /fetch failed/);
  assert.match(html, new RegExp(`value="${DEAD_RE}"`), "the typed URL is kept");
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
  await setOllamaUrl(f.deps, DEAD);
  const res = await f.request("/models");
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, new RegExp(`role="alert">Cannot reach Ollama at ${DEAD_RE}: the connection`));
  assert.match(
    html,
    /not only on 127\.0\.0\.1\. The Ollama URL is set on the <a href="\/settings">/,
  );
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

/** The Proxy info page as seen through `host`: its Ollama base URL and the words about it. */
async function proxyPage(f: UiFixture, host?: string) {
  const html = await (await f.request("/proxy", { headers: host ? { host } : {} })).text();
  const url = /<code id="url-ollama">([^<]*)<\/code>/.exec(html)?.[1];
  const source = /class="url-source" id="url-source">([\s\S]*?)<\/(?:p|div)>\s*<dl/.exec(html)?.[1]
    .replace(/<[^>]+>/g, "").replaceAll("&#39;", "'").replace(/\s+/g, " ").trim();
  return { html, url, source };
}

Deno.test("on a wildcard bind the proxy URL takes the host name the admin was reached by", async () => {
  // The admin answers to gw.internal only when it is one of its names.
  const f = await startUi({ ADMIN_ALLOWED_HOSTS: "gw.internal" });
  try {
    await f.signIn();
    f.deps.config.proxyHost = "0.0.0.0";
    const page = await proxyPage(f, "gw.internal:8001");
    assert.equal(page.url, "http://gw.internal:8000");
    assert.match(page.source!, /the host name you opened this page with \(gw.internal\)/);
    assert.match(page.source!, /set it as the Public URL in Settings/);
    assert.match(page.html, /<a href="\/settings#public_url">/);
  } finally {
    await f.close();
  }
});

uiTest("a loopback Host is never offered to clients; the page says why", async (f) => {
  await f.signIn();
  f.deps.config.proxyHost = "0.0.0.0";
  for (const host of ["127.0.0.1:8001", "localhost:8001", "[::1]:8001", ""]) {
    const page = await proxyPage(f, host);
    assert.equal(page.url, "http://127.0.0.1:8000", host);
    assert.match(page.source!, /works only on the gateway's own machine/, host);
    assert.match(page.source!, /opened this page through a loopback address/, host);
    assert.match(page.html, /class="notice warning"/, host);
  }
  // A proxy that listens on loopback only is unreachable from elsewhere, whatever the Host.
  f.deps.config.proxyHost = "127.0.0.1";
  const bound = await proxyPage(f, "localhost:8001");
  assert.equal(bound.url, "http://127.0.0.1:8000");
  assert.match(bound.source!, /listens on PROXY_HOST=127.0.0.1 only/);
  assert.match(bound.source!, /PROXY_HOST=0.0.0.0/);
  f.deps.config.proxyHost = "10.0.0.5";
  const own = await proxyPage(f, "127.0.0.1:8001");
  assert.equal(own.url, "http://10.0.0.5:8000");
  assert.match(own.source!, /the proxy's listen address \(PROXY_HOST=10.0.0.5\) and port 8000/);
});

uiTest("a public URL saved in Settings fills the proxy info snippets", async (f) => {
  await f.signIn();
  const settings = await (await f.request("/settings")).text();
  assert.match(settings, /<label for="public_url">Public URL<\/label>/);
  assert.match(settings, /Empty: worked out from PROXY_HOST and the address of this page/);
  const res = await f.post("/settings", {
    ollama_url: f.mock.url,
    default_model: "llama3",
    public_url: " https://LLM.example.com/ ",
  });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /name="public_url" type="url" value="https:\/\/llm.example.com"/);
  assert.equal((await f.deps.settings.get()).public_url, "https://llm.example.com");
  const page = await proxyPage(f, "127.0.0.1:8001");
  assert.equal(page.url, "https://llm.example.com");
  assert.match(page.source!, /^This is the Public URL in Settings; change it there.$/);
  assert.match(page.html, /<code id="url-openai">https:\/\/llm.example.com\/v1<\/code>/);
  assert.match(page.html, /curl https:\/\/llm.example.com\/v1\/chat\/completions/);
  assert.match(page.html, /host: &quot;https:\/\/llm.example.com&quot;/);
  assert.doesNotMatch(page.html, /127\.0\.0\.1:8000/, "no snippet keeps the loopback address");

  // Emptied: back to the derived address.
  await (await f.post("/settings", {
    ollama_url: f.mock.url,
    default_model: "llama3",
    public_url: "",
  })).body?.cancel();
  assert.equal((await f.deps.settings.get()).public_url, "");
  assert.equal((await proxyPage(f)).url, "http://127.0.0.1:8000");
});

uiTest("a public URL that is no base URL is refused next to its field", async (f) => {
  await f.signIn();
  for (
    const bad of ["ftp://llm.example.com", "gpu-box:8000", "http://u:pw@gpu-box", "http://x/?a"]
  ) {
    const res = await f.post("/settings", {
      ollama_url: f.mock.url,
      default_model: "llama3",
      public_url: bad,
    }, { htmx: true });
    assert.equal(res.status, 422, bad);
    const html = await res.text();
    assert.match(html, /id="public_url-error">Enter an http:\/\/ or https:\/\/ address/, bad);
    assert.ok(html.includes(`value="${bad.replaceAll("&", "&amp;")}"`), `${bad} is kept`);
  }
  assert.equal((await f.deps.settings.get()).public_url, "", "nothing saved");
});

Deno.test("PUBLIC_URL applies while Settings has none, and Settings wins over it", async () => {
  const f = await startUi({ PUBLIC_URL: "http://gpu-box:8000/" });
  try {
    await f.signIn();
    const page = await proxyPage(f, "127.0.0.1:8001");
    assert.equal(page.url, "http://gpu-box:8000");
    assert.match(page.source!, /This is PUBLIC_URL from the gateway's environment/);
    const settings = await (await f.request("/settings")).text();
    assert.match(settings, /placeholder="http:\/\/gpu-box:8000"/);
    assert.match(settings, /Empty: PUBLIC_URL from the environment \(http:\/\/gpu-box:8000\)/);
    await f.deps.settings.update({ public_url: "https://llm.example.com" });
    assert.equal((await proxyPage(f)).url, "https://llm.example.com");
  } finally {
    await f.close();
  }
});

for (const dialect of testDialects()) {
  Deno.test(
    `[${dialect}] the Settings form shows a password in the Ollama URL as *** and keeps it when saved as shown`,
    async () => {
      const f = await startUi({}, dialect);
      try {
        const password = "form-pw-7d21e9";
        const secretUrl = f.mock.url.replace("://", `://ollama:${password}@`);
        await f.signIn();
        const set = await f.post("/settings", { ollama_url: secretUrl, default_model: "llama3" });
        assert.equal(set.status, 200);
        assert.doesNotMatch(await set.text(), new RegExp(password));
        assert.equal((await f.deps.store.listUpstreams())[0].url, secretUrl);
        const html = await (await f.request("/settings")).text();
        assert.doesNotMatch(html, new RegExp(password), "no password in the page");
        const shown = f.mock.url.replace("://", "://***@");
        assert.ok(html.includes(`value="${shown}"`), "the URL shows with ***");
        // Testing the connection as shown uses the stored credentials.
        f.mock.requests.length = 0;
        const tested = await f.post("/settings/test", {
          ollama_url: shown,
          default_model: "llama3",
        }, { htmx: true });
        const testedHtml = await tested.text();
        assert.match(testedHtml, /Connected to Ollama/);
        assert.doesNotMatch(testedHtml, new RegExp(password));
        // Saved as shown with another change: the credentials stay and reach Ollama.
        const saved = await f.post("/settings", { ollama_url: shown, default_model: "llama3.2" });
        assert.equal(saved.status, 200);
        assert.doesNotMatch(await saved.text(), new RegExp(password));
        assert.equal((await f.deps.store.listUpstreams())[0].url, secretUrl);
        assert.equal((await f.deps.settings.get()).ollama_url, secretUrl);
        const { key } = await f.createKey({ name: "creds" });
        f.mock.requests.length = 0;
        const res = await f.chat(key);
        assert.equal(res.status, 200, await res.text());
        const chat = f.mock.requests.find((r) => r.path === "/api/chat");
        assert.equal(chat?.headers.get("authorization"), `Basic ${btoa(`ollama:${password}`)}`);
      } finally {
        await f.close();
      }
    },
  );
}

uiTest(
  "with every box deleted, the Settings form shows the stored URL's password as *** and a save as shown keeps it",
  async (f) => {
    const password = "nobox-pw-4b18f0";
    const secretUrl = f.mock.url.replace("://", `://ollama:${password}@`);
    await f.signIn();
    for (const row of await f.deps.store.listUpstreams()) await f.deps.store.deleteUpstream(row.id);
    await f.deps.settings.update({ ollama_url: secretUrl });
    const html = await (await f.request("/settings")).text();
    assert.doesNotMatch(html, new RegExp(password));
    const shown = f.mock.url.replace("://", "://***@");
    assert.ok(html.includes(`value="${shown}"`));
    const saved = await f.post("/settings", { ollama_url: shown, default_model: "llama3" });
    assert.equal(saved.status, 200);
    assert.deepEqual((await f.deps.store.listUpstreams()).map((r) => r.url), [secretUrl]);
  },
);
