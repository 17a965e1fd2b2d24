/**
 * The admin app (and the proxy app, for usage) built on a fresh SQLite database in front of the
 * mock Ollama, driven in-process through `app.request()`, with a browser-like cookie jar.
 * @module
 */
import { seedUpstreams } from "../../ops/upstreams.ts";
import type { Hono } from "hono";
import { createAdminApp } from "../../admin/app.ts";
import { ManualClock } from "../../core/clock.ts";
import { parseConfig } from "../../core/config.ts";
import type { Deps } from "../../deps.ts";
import { createLogger } from "../../core/log.ts";
import { encodeSettings, SettingsCache } from "../../core/settings.ts";
import { InFlight } from "../../core/inflight.ts";
import { openStore } from "../../db/mod.ts";
import { createProxyApp } from "../../proxy/app.ts";
import { createTestDatabase, type Dialect } from "../support/databases.ts";
import { type MockOllama, startMockOllama } from "../support/mock_ollama.ts";

/** The admin password of every UI fixture. */
export const PASSWORD = "ui-test-password";
/** The address requests come from unless a test says otherwise. */
export const CLIENT = "192.0.2.10";

/** Options of one request through the fixture. */
export interface Send {
  method?: string;
  /** Form fields, sent urlencoded. */
  form?: Record<string, string>;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** Sends HX-Request, as htmx does. */
  htmx?: boolean;
  /** The client address the listener sees. */
  from?: string;
  /** Leaves the session cookie out. */
  anonymous?: boolean;
}

/** A running admin app with a signed-in-or-not browser. */
export interface UiFixture {
  app: Hono;
  deps: Deps;
  clock: ManualClock;
  mock: MockOllama;
  /** Log lines at level warn and above. */
  logs: string[];
  /** The session cookie (name=value) once signed in. */
  cookie: string | null;
  /** The CSRF token of the current session, read from the last page. */
  csrf: string | null;
  request(path: string, send?: Send): Promise<Response>;
  /** Signs in with the password and reads the CSRF token off the keys page. */
  signIn(): Promise<void>;
  /** POSTs a form with the session's CSRF token. */
  post(path: string, form?: Record<string, string>, send?: Send): Promise<Response>;
  /**
   * Sends a chat request with an API key to the proxy app, from 127.0.0.1 (a delegating key's
   * default trusted peer), with extra headers such as Open WebUI's.
   */
  chat(
    key: string,
    body?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<Response>;
  /** Creates a key through the UI and returns its plaintext and id. */
  createKey(form: Record<string, string>): Promise<{ key: string; id: number }>;
  close(): Promise<void>;
}

/** Reads the CSRF token out of a page. */
export function csrfOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error("no CSRF field on the page");
  return match[1];
}

/** Starts an admin app on a fresh database (SQLite unless told) and mock Ollama. */
export async function startUi(
  env: Record<string, string> = {},
  dialect: Dialect = "sqlite",
): Promise<UiFixture> {
  const db = await createTestDatabase(dialect);
  const mock = await startMockOllama();
  const config = parseConfig({
    ADMIN_PASSWORD: PASSWORD,
    DATABASE_URL: db.url,
    OLLAMA_URL: mock.url,
    DEFAULT_MODEL: "llama3",
    PROXY_HOST: "127.0.0.1",
    PROXY_PORT: "8000",
    ...env,
  });
  const store = await openStore(config.databaseUrl);
  await store.seedSettings(
    encodeSettings({ ollama_url: config.ollamaUrl, default_model: config.defaultModel }),
  );
  await seedUpstreams(store, "2026-06-15T10:00:00.000Z");
  const clock = new ManualClock("2026-06-15T10:00:00Z");
  const logs: string[] = [];
  const deps: Deps = {
    config,
    store,
    clock,
    settings: new SettingsCache(store),
    log: createLogger("warn", (line) => logs.push(line)),
    inflight: new InFlight(),
    instanceId: "ui-fixture",
  };
  const app = createAdminApp(deps);
  const proxy = createProxyApp(deps);
  const f: UiFixture = {
    app,
    deps,
    clock,
    mock,
    logs,
    cookie: null,
    csrf: null,
    async request(path, send = {}) {
      const headers = new Headers(send.headers);
      if (f.cookie && !send.anonymous) headers.set("cookie", f.cookie);
      if (send.htmx) headers.set("hx-request", "true");
      let body: string | undefined;
      if (send.form) {
        headers.set("content-type", "application/x-www-form-urlencoded");
        body = new URLSearchParams(send.form).toString();
      }
      const res = await app.request(
        path,
        { method: send.method ?? (send.form ? "POST" : "GET"), headers, body },
        { remoteAddr: { hostname: send.from ?? CLIENT, port: 50000, transport: "tcp" } },
      );
      const setCookie = res.headers.get("set-cookie");
      const session = setCookie && /llmq_session=([^;]*)/.exec(setCookie);
      if (session) f.cookie = session[1] ? `llmq_session=${session[1]}` : null;
      return res;
    },
    async signIn() {
      const res = await f.request("/login", { form: { password: PASSWORD } });
      if (res.status !== 303) throw new Error(`signIn: ${res.status}`);
      await res.body?.cancel();
      f.csrf = csrfOf(await (await f.request("/keys")).text());
    },
    post(path, form = {}, send = {}) {
      return f.request(path, { ...send, form: { _csrf: f.csrf ?? "", ...form } });
    },
    async chat(key, body = {}, headers = {}) {
      return await proxy.request(
        "/api/chat",
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${key}`,
            "content-type": "application/json",
            ...headers,
          },
          body: JSON.stringify({
            model: "llama3",
            stream: false,
            messages: [{ role: "user", content: "Hi" }],
            ...body,
          }),
        },
        { remoteAddr: { hostname: "127.0.0.1", port: 50001, transport: "tcp" } },
      );
    },
    async createKey(form) {
      const res = await f.post("/keys", form);
      const html = await res.text();
      const key = /value="(sk-[^"]+)"/.exec(html)?.[1];
      if (res.status !== 200 || !key) throw new Error(`createKey: ${res.status}`);
      const keys = await store.listKeys();
      return { key, id: keys.find((k) => key.startsWith(k.prefix))!.id };
    },
    async close() {
      await store.close();
      await mock.close();
      await db.drop();
    },
  };
  return f;
}

/** Registers a test with a fresh fixture, closed afterwards. */
export function uiTest(name: string, fn: (f: UiFixture) => Promise<void>): void {
  Deno.test(name, async () => {
    const f = await startUi();
    try {
      await fn(f);
    } finally {
      await f.close();
    }
  });
}
