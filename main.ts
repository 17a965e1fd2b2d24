/**
 * llm-quota: starts the proxy and the admin listeners.
 * @module
 */
import { MAINTENANCE_INTERVAL_MS, ROLLUP_15M_RETENTION_DAYS } from "./core/analytics/retention.ts";
import { createAdminApp } from "./admin/app.ts";
import { type Clock, systemClock } from "./core/clock.ts";
import { type Config, ConfigError, parseConfig } from "./core/config.ts";
import type { Deps } from "./deps.ts";
import { createLogger, type Logger, stderrLines } from "./core/log.ts";
import { InFlight } from "./core/inflight.ts";
import { encodeSettings, SettingsCache } from "./core/settings.ts";
import { openStore } from "./db/mod.ts";
import type { Store } from "./core/store.ts";
import { createProxyApp } from "./proxy/app.ts";
import { GatewayMetrics } from "./ops/gateway_metrics.ts";
import { formatStartupReport, gatherStartupFacts } from "./ops/startup_report.ts";
import { cannotStart, formatFromEnv, processLine } from "./ops/process_log.ts";
import { listen, type Listener } from "./ops/listener.ts";
import {
  ASSUMED_LIMIT,
  type ConnectionLimits,
  defaultConnectionCaps,
  openFileLimit,
} from "./ops/connection_limits.ts";
import { type ListenerAddress, listenerAddresses, listenProblem } from "./ops/port_check.ts";
import { timedStore } from "./ops/timed_store.ts";
import { withKeyCache } from "./db/key_cache.ts";
import { loadEnvFile } from "./ops/env_file.ts";
import { seedUpstreams, startUpstreamProbes } from "./ops/upstreams.ts";

/** A running gateway. */
export interface Gateway {
  deps: Deps;
  proxyUrl: string;
  adminUrl: string;
  /** The connection caps in force (set, or derived from the open-file limit). */
  connections: ConnectionLimits;
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

/** Why the gateway cannot start: a one-line message for the operator (no stack trace). */
export class StartError extends Error {}

/**
 * After the grace period, aborted requests get this long to record their usage and send their
 * last (error) event; connections still open then (a client that stopped reading) are cut.
 */
const CUT_AFTER_ABORT_MS = 5000;

/** Opens the store, seeds settings and starts both listeners. */
export async function startGateway(config: Config, options: StartOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger(config.logLevel, undefined, config.logFormat);
  const openFiles = openFileLimit();
  const derived = defaultConnectionCaps(openFiles ?? ASSUMED_LIMIT, config.dbPoolSize);
  const caps = {
    proxy: config.proxyMaxConnections ?? derived.proxy,
    admin: config.adminMaxConnections ?? derived.admin,
  };
  // Both ports are bound before the database opens: a taken port is reported at once, naming
  // the listener and the variable that moves it.
  const [proxyAddress, adminAddress] = listenerAddresses(config);
  const bind = (address: ListenerAddress, maxConnections: number) => {
    try {
      return listen({
        name: address.listener,
        hostname: address.host,
        port: address.port,
        maxConnections,
        maxConnectionsVariable: address.listener === "proxy"
          ? "PROXY_MAX_CONNECTIONS"
          : "ADMIN_MAX_CONNECTIONS",
        headersTimeoutMs: config.headersTimeoutMs,
        idleTimeoutMs: config.idleTimeoutMs,
        log,
      });
    } catch (err) {
      throw new StartError(listenProblem(address, err));
    }
  };
  const proxy = bind(proxyAddress, caps.proxy);
  let admin: Listener;
  try {
    admin = bind(adminAddress, caps.admin);
  } catch (err) {
    await proxy.shutdown();
    throw err;
  }
  let store: Store;
  try {
    store = options.store ?? await openStore(config.databaseUrl, {
      poolSize: config.dbPoolSize,
      statementTimeoutMs: config.dbStatementTimeoutMs,
      connectTimeoutSeconds: config.dbConnectTimeoutSeconds,
    });
    await store.seedSettings(
      encodeSettings({ ollama_url: config.ollamaUrl, default_model: config.defaultModel }),
    );
    // The first start with the boxes table fills it from that setting (OLLAMA_URL on a fresh
    // database, the stored Ollama URL on an existing one).
    await seedUpstreams(store, new Date().toISOString());
  } catch (err) {
    await Promise.all([proxy.shutdown(), admin.shutdown()]);
    throw err;
  }
  const metrics = new GatewayMetrics(config.metricsKeyLabels);
  // Every store call the listeners make is timed into llmq_db_duration_seconds.
  const timed = timedStore(withKeyCache(store), metrics);
  const deps: Deps = {
    // The admin's proxy info names the port the proxy really got (port 0: any free one).
    config: { ...config, proxyPort: proxy.addr.port },
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
  // Analytics maintenance hourly (once per cluster on PostgreSQL): compaction of complete local
  // days, then request-log and 15-minute-rollup retention. It changes no quota and no chart total.
  const maintain = async () => {
    try {
      const done = await store.maintainAnalytics({
        // The quota clock, as request_log's started_at and the rollup buckets use it.
        nowMs: deps.clock.now().epochMilliseconds,
        timeZone: config.timeZone,
        requestLogRetentionDays: config.requestLogRetentionDays,
        rollup15mRetentionDays: ROLLUP_15M_RETENTION_DAYS,
      });
      if (done.deletedRequests > 0 || done.deletedBuckets > 0) {
        log.info("analytics retention", {
          requests: done.deletedRequests,
          buckets: done.deletedBuckets,
          days_compacted: done.compactedDays,
        });
      }
    } catch (err) {
      log.warn("cannot run analytics maintenance", { error: (err as Error).message });
    }
  };
  const maintenance = setInterval(maintain, MAINTENANCE_INTERVAL_MS);
  Deno.unrefTimer(maintenance);
  // A first run a minute after start, so gateways restarted often still get there.
  const firstMaintenance = setTimeout(maintain, 60_000);
  Deno.unrefTimer(firstMaintenance);
  // Several Ollama boxes are probed for health, models and loaded runners (ops/upstreams.ts).
  const stopProbes = startUpstreamProbes(deps);
  const proxyApp = createProxyApp(deps);
  const adminApp = createAdminApp(deps);
  proxy.serve((req, info) => proxyApp.fetch(req, info));
  admin.serve((req, info) => adminApp.fetch(req, info));
  const url = (addr: Deno.NetAddr) =>
    `http://${addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname}:${addr.port}`;
  return {
    deps,
    proxyUrl: url(proxy.addr),
    adminUrl: url(admin.addr),
    connections: { ...caps, openFileLimit: openFiles },
    async close(graceSeconds?: number) {
      clearInterval(reaper);
      clearInterval(maintenance);
      clearTimeout(firstMaintenance);
      const drained = Promise.all([proxy.shutdown(), admin.shutdown()]);
      let cut: ReturnType<typeof setTimeout> | undefined;
      const timer = graceSeconds === undefined ? undefined : setTimeout(() => {
        deps.inflight.abortAll();
        // What still runs now is not an upstream request (those just ended with their error
        // event): e.g. a client that stopped reading. It would hold the shutdown forever.
        cut = setTimeout(() => {
          proxy.abort();
          admin.abort();
        }, CUT_AFTER_ABORT_MS);
      }, graceSeconds * 1000);
      await drained;
      clearTimeout(timer);
      clearTimeout(cut);
      // After the drain: the shared slots' releases of the requests that just ended are waited
      // for (and retried), then this instance's leases go, before the store closes.
      await stopProbes();
      await store.close();
      stderrLines.flush();
    },
  };
}

if (import.meta.main) {
  loadEnvFile(); // .env, when a deno task asks for it and it exists
  const env = Deno.env.toObject();
  let config: Config;
  try {
    config = parseConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    cannotStart(formatFromEnv(env), err.message);
    Deno.exit(1);
  }
  const format = config.logFormat;
  let gateway: Gateway;
  try {
    gateway = await startGateway(config);
  } catch (err) {
    cannotStart(format, (err as Error).message);
    Deno.exit(1);
  }
  stderrLines.line(formatStartupReport(
    await gatherStartupFacts(
      gateway.deps,
      gateway.proxyUrl,
      gateway.adminUrl,
      undefined,
      gateway.connections,
    ),
    config,
  ));
  stderrLines.flush();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const grace = config.shutdownGraceSeconds;
    const started = Date.now();
    processLine(
      format,
      "info",
      "shutting down",
      `Shutting down: running requests may finish for ${grace} s, then they are aborted`,
      { grace_seconds: grace },
    );
    await gateway.close(grace);
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    processLine(
      format,
      "info",
      "stopped",
      `Stopped after ${seconds} s; usage recorded, database closed`,
      { seconds },
    );
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
