/**
 * llm-quota: starts the proxy and the admin listeners.
 * @module
 */
import { createAdminApp } from "./admin/app.ts";
import { type Clock, systemClock } from "./core/clock.ts";
import { type Config, ConfigError, parseConfig } from "./core/config.ts";
import type { Deps } from "./deps.ts";
import { createLogger, type Logger } from "./core/log.ts";
import { InFlight } from "./core/inflight.ts";
import { encodeSettings, SettingsCache } from "./core/settings.ts";
import { openStore } from "./db/mod.ts";
import type { Store } from "./core/store.ts";
import { createProxyApp } from "./proxy/app.ts";
import { GatewayMetrics } from "./ops/gateway_metrics.ts";
import { formatStartupReport, gatherStartupFacts } from "./ops/startup_report.ts";
import { timedStore } from "./ops/timed_store.ts";
import { withKeyCache } from "./db/key_cache.ts";
import { startUpstreamProbes } from "./ops/upstreams.ts";

/** A running gateway. */
export interface Gateway {
  deps: Deps;
  proxyUrl: string;
  adminUrl: string;
  /**
   * Stops accepting requests, lets running ones finish for up to `graceSeconds` (default: none
   * more than they need), aborts the rest with their partial usage recorded, closes the store.
   */
  close(graceSeconds?: number): Promise<void>;
}

/** Options for starting a gateway in-process (tests inject a clock, a logger or a store). */
export interface StartOptions {
  clock?: Clock;
  log?: Logger;
  store?: Store;
}

/** Opens the store, seeds settings and starts both listeners. */
export async function startGateway(config: Config, options: StartOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger(config.logLevel, undefined, config.logFormat);
  const store = options.store ?? await openStore(config.databaseUrl, {
    poolSize: config.dbPoolSize,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    connectTimeoutSeconds: config.dbConnectTimeoutSeconds,
  });
  await store.seedSettings(
    encodeSettings({ ollama_url: config.ollamaUrl, default_model: config.defaultModel }),
  );
  const metrics = new GatewayMetrics(config.metricsKeyLabels);
  // Every store call the listeners make is timed into llmq_db_duration_seconds.
  const timed = timedStore(withKeyCache(store), metrics);
  const deps: Deps = {
    config,
    store: timed,
    clock: options.clock ?? systemClock,
    settings: new SettingsCache(timed),
    log,
    inflight: new InFlight(),
    instanceId: crypto.randomUUID(),
    metrics,
  };
  // Heartbeats in wall-clock time: they say whether a process is alive, not which quota day it
  // is. Reservations and in-flight slots left by a gateway that died mid-request would block
  // quota until released: those of a gateway silent for three heartbeats are, and any still
  // pending after STALE_RESERVATION_MINUTES.
  const beatMs = config.heartbeatSeconds * 1000;
  const beat = () => store.heartbeat(deps.instanceId, new Date().toISOString());
  const releaseStale = async () => {
    const now = Date.now();
    try {
      await beat();
      const released = await store.releaseStale({
        startedBefore: new Date(now - config.staleReservationMinutes * 60_000).toISOString(),
        silentSince: new Date(now - 3 * beatMs).toISOString(),
        minutesBefore: new Date(now - 60 * 60_000).toISOString(),
      });
      if (released > 0) log.warn("released stale reservations", { count: released });
    } catch (err) {
      log.warn("cannot release stale reservations", { error: (err as Error).message });
    }
  };
  await releaseStale();
  const reaper = setInterval(releaseStale, beatMs);
  Deno.unrefTimer(reaper);
  // Several Ollama boxes are probed for health, models and loaded runners (ops/upstreams.ts).
  const stopProbes = startUpstreamProbes(deps);
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
    async close(graceSeconds?: number) {
      clearInterval(reaper);
      await stopProbes();
      const drained = Promise.all([proxy.shutdown(), admin.shutdown()]);
      const timer = graceSeconds === undefined
        ? undefined
        : setTimeout(() => deps.inflight.abortAll(), graceSeconds * 1000);
      await drained;
      clearTimeout(timer);
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
  console.log(formatStartupReport(
    await gatherStartupFacts(gateway.deps, gateway.proxyUrl, gateway.adminUrl),
    config,
  ));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log(
      `Shutting down: finishing running requests (at most ${config.shutdownGraceSeconds} s)`,
    );
    await gateway.close(config.shutdownGraceSeconds);
    console.log("Stopped; usage recorded, database closed");
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
