/**
 * llm-quota: starts the proxy and the admin listeners.
 * @module
 */
import { createAdminApp } from "./admin/app.ts";
import { type Clock, systemClock } from "./core/clock.ts";
import { type Config, ConfigError, parseConfig } from "./core/config.ts";
import type { Deps } from "./core/deps.ts";
import { createLogger, type Logger } from "./core/log.ts";
import { SettingsCache } from "./core/settings.ts";
import { openStore } from "./db/mod.ts";
import type { Store } from "./db/store.ts";
import { createProxyApp } from "./proxy/app.ts";

/** A running gateway. */
export interface Gateway {
  deps: Deps;
  proxyUrl: string;
  adminUrl: string;
  /** Stops both listeners (letting open requests finish) and closes the store. */
  close(): Promise<void>;
}

/** Options for starting a gateway in-process (tests inject a clock, a logger or a store). */
export interface StartOptions {
  clock?: Clock;
  log?: Logger;
  store?: Store;
}

/** Opens the store, seeds settings and starts both listeners. */
export async function startGateway(config: Config, options: StartOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger(config.logLevel);
  const store = options.store ?? await openStore(config.databaseUrl, {
    poolSize: config.dbPoolSize,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    connectTimeoutSeconds: config.dbConnectTimeoutSeconds,
  });
  await store.seedSettings({ ollama_url: config.ollamaUrl, default_model: config.defaultModel });
  const deps: Deps = {
    config,
    store,
    clock: options.clock ?? systemClock,
    settings: new SettingsCache(store),
    log,
  };
  // The proxy starts first so the admin's proxy info can name the port it really got.
  let proxyApp: ReturnType<typeof createProxyApp> | null = null;
  const proxy = Deno.serve(
    { hostname: config.proxyHost, port: config.proxyPort, onListen() {} },
    (req, info) => proxyApp!.fetch(req, info),
  );
  deps.config = { ...config, proxyPort: proxy.addr.port };
  proxyApp = createProxyApp(deps);
  const admin = Deno.serve(
    { hostname: config.adminHost, port: config.adminPort, onListen() {} },
    createAdminApp(deps).fetch,
  );
  const url = (addr: Deno.NetAddr) =>
    `http://${addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname}:${addr.port}`;
  return {
    deps,
    proxyUrl: url(proxy.addr),
    adminUrl: url(admin.addr),
    async close() {
      await Promise.all([proxy.shutdown(), admin.shutdown()]);
      await store.close();
    },
  };
}

if (import.meta.main) {
  let config: Config;
  try {
    config = parseConfig(Deno.env.toObject());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    Deno.exit(1);
  }
  let gateway: Gateway;
  try {
    gateway = await startGateway(config);
  } catch (err) {
    console.error(`Cannot start: ${(err as Error).message}`);
    Deno.exit(1);
  }
  console.log(`llm-quota proxy listening on ${gateway.proxyUrl}`);
  console.log(`llm-quota admin listening on ${gateway.adminUrl}`);
  const stop = async () => {
    await gateway.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
