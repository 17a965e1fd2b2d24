/**
 * Starts a real gateway (both listeners on free ports) on a fresh database, in front of the
 * mock Ollama, with a manual clock. One call per test; `close()` removes everything.
 * @module
 */
import { ManualClock } from "../../core/clock.ts";
import { parseConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { hashApiKey } from "../../core/secrets.ts";
import { type Gateway, startGateway } from "../../main.ts";
import { createTestDatabase, type Dialect, type TestDatabase, testDialects } from "./databases.ts";
import { type MockBehaviour, type MockOllama, startMockOllama } from "./mock_ollama.ts";

/** The admin password every test gateway uses. */
export const ADMIN_PASSWORD = "test-admin-password";

/** A running test gateway with helpers. */
export interface TestGateway {
  dialect: Dialect;
  gateway: Gateway;
  mock: MockOllama;
  clock: ManualClock;
  db: TestDatabase;
  /** Log lines the gateway wrote. */
  logs: string[];
  /** Calls the proxy listener. */
  proxy(path: string, init?: RequestInit): Promise<Response>;
  /** Calls the admin JSON API with the admin password. */
  admin(path: string, init?: RequestInit): Promise<Response>;
  /** Creates a key through the admin API and returns its plaintext and id. */
  createKey(fields?: Record<string, unknown>): Promise<{ key: string; id: number }>;
  /** POSTs JSON to the proxy with a key. */
  post(
    path: string,
    key: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<Response>;
  /** Today's and this month's usage of a key, from the admin API. */
  usage(id: number): Promise<KeyUsageView>;
  /**
   * Usage once `ready` holds (or after 5 s): clients such as ollama-js stop reading at the final
   * line, a moment before the gateway sees the stream end and records it.
   */
  usageWhen(id: number, ready: (u: KeyUsageView) => boolean): Promise<KeyUsageView>;
  close(): Promise<void>;
}

/** Usage as the admin API reports it. */
export interface KeyUsageView {
  today: { requests: number; prompt_tokens: number; completion_tokens: number; tokens: number };
  month: { requests: number; prompt_tokens: number; completion_tokens: number; tokens: number };
}

/** Options for a test gateway. */
export interface TestGatewayOptions {
  /** When the manual clock starts (default 2026-06-15T10:00:00Z). */
  now?: string;
  env?: Record<string, string>;
  mock?: MockBehaviour;
}

/** Starts a test gateway for a dialect. */
export async function startTestGateway(
  dialect: Dialect,
  options: TestGatewayOptions = {},
): Promise<TestGateway> {
  const db = await createTestDatabase(dialect);
  const mock = await startMockOllama(options.mock);
  const clock = new ManualClock(options.now ?? "2026-06-15T10:00:00Z");
  const logs: string[] = [];
  const secrets: string[] = [ADMIN_PASSWORD];
  const config = parseConfig({
    ADMIN_PASSWORD,
    PROXY_HOST: "127.0.0.1",
    PROXY_PORT: "0",
    ADMIN_PORT: "0",
    DATABASE_URL: db.url,
    OLLAMA_URL: mock.url,
    DEFAULT_MODEL: "llama3",
    LOG_LEVEL: "debug",
    ...options.env,
  });
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, {
      clock,
      log: createLogger("debug", (line) => logs.push(line)),
    });
  } catch (err) {
    await mock.close();
    await db.drop();
    throw err;
  }
  const t: TestGateway = {
    dialect,
    gateway,
    mock,
    clock,
    db,
    logs,
    proxy: (path, init) => fetch(gateway.proxyUrl + path, init),
    admin: (path, init) =>
      fetch(gateway.adminUrl + path, {
        ...init,
        headers: {
          authorization: `Bearer ${ADMIN_PASSWORD}`,
          "content-type": "application/json",
          ...init?.headers,
        },
      }),
    async createKey(fields = {}) {
      const res = await t.admin("/api/api-keys", {
        method: "POST",
        body: JSON.stringify({ name: "test key", ...fields }),
      });
      if (res.status !== 201) throw new Error(`createKey: ${res.status} ${await res.text()}`);
      const body = await res.json();
      secrets.push(body.key, hashApiKey(body.key));
      return { key: body.key, id: body.id };
    },
    post: (path, key, body, headers = {}) =>
      fetch(gateway.proxyUrl + path, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    async usage(id) {
      const res = await t.admin("/api/api-keys");
      const keys = await res.json() as Array<{ id: number; usage: KeyUsageView }>;
      const key = keys.find((k) => k.id === id);
      if (!key) throw new Error(`usage: no key ${id}`);
      return key.usage;
    },
    async usageWhen(id, ready) {
      let usage = await t.usage(id);
      for (let i = 0; i < 100 && !ready(usage); i++) {
        await new Promise((r) => setTimeout(r, 50));
        usage = await t.usage(id);
      }
      return usage;
    },
    async close() {
      // Every test doubles as a ledger check (quota counters and usage rollups) and a secrets
      // check on its own traffic.
      const differences = await gateway.deps.store.audit();
      const rollups = await gateway.deps.store.auditRollups();
      await gateway.close();
      await mock.close();
      await db.drop();
      if (differences.length) {
        throw new Error(`counters differ from the ledger: ${JSON.stringify(differences)}`);
      }
      if (rollups.length) {
        throw new Error(`usage rollups differ from the ledger: ${JSON.stringify(rollups)}`);
      }
      for (const line of logs) {
        for (const secret of secrets) {
          if (line.includes(secret)) throw new Error(`a secret appears in a log line: ${line}`);
        }
      }
    },
  };
  return t;
}

/**
 * Registers a test once per dialect (`[sqlite] name`, `[postgres] name`), each with its own
 * fresh gateway and database.
 */
export function gatewayTest(
  name: string,
  fn: (t: TestGateway) => Promise<void>,
  options: TestGatewayOptions = {},
): void {
  for (const dialect of testDialects()) {
    Deno.test(`[${dialect}] ${name}`, async () => {
      const t = await startTestGateway(dialect, options);
      try {
        await fn(t);
      } finally {
        await t.close();
      }
    });
  }
}
