/**
 * The block printed once at start: listeners, database (never its password), the Ollama boxes in
 * use and whether each answered, APP_TZ, and warnings for risky settings.
 * @module
 */
import { resolve } from "node:path";
import { type Config, weakPasswordProblem } from "../core/config.ts";
import type { Deps } from "../deps.ts";
import { isLoopback } from "../core/loopback.ts";
import { OllamaUnavailable, ollamaVersion } from "../core/ollama.ts";
import { redactUrl } from "../core/redact.ts";
import { upstreamConfig } from "../core/upstreams/records.ts";
import { upstreamName, upstreamUrls } from "../core/upstreams/setting.ts";
import { sqlitePath } from "../db/sqlite.ts";
import { ASSUMED_LIMIT, type ConnectionLimits, descriptorsNeeded } from "./connection_limits.ts";
import { connectionControl } from "./listener.ts";

/** Secrets shorter than this are reported as weak. */
const MIN_SECRET_LENGTH = 16;

/** Whether a box answered its version, or why not. */
export type OllamaAnswer =
  | { answered: true; version: string }
  | { answered: false; reason: string; hint: string };

/** What the report states. */
export interface StartupFacts {
  proxyUrl: string;
  adminUrl: string;
  /** `sqlite file /abs/path` or `postgres user@host:port/db (pool N)`. */
  database: string;
  /** The URLs of the boxes requests use (the table), without credentials, comma-separated. */
  ollamaUrl: string;
  /** What the first box said (the only one in a one-box setup). */
  ollama: OllamaAnswer;
  /** Every box, with what it said. */
  upstreams: Array<{
    name: string;
    url: string;
    enabled: boolean;
    maxInFlight: number | null;
    ollama: OllamaAnswer | null;
  }>;
  timeZone: string;
  /** The connection caps in force and the open-file limit they were derived from. */
  connections?: ConnectionLimits;
  warnings: string[];
}

/** The database as the report names it: dialect and file or host, never a password. */
export async function describeDatabase(config: Config): Promise<string> {
  if (/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
    // Loaded only for PostgreSQL, as db/mod.ts does, so SQLite users never load the driver.
    const { describePostgresUrl } = await import("../db/postgres.ts");
    return `postgres ${describePostgresUrl(config.databaseUrl)} (pool ${config.dbPoolSize})`;
  }
  const path = sqlitePath(config.databaseUrl);
  return path === ":memory:" ? "sqlite in memory" : `sqlite file ${resolve(path)}`;
}

/**
 * Warnings for settings that work but put the gateway at risk; `storedOllamaUrl`: the URLs of
 * the boxes in the database, comma-separated.
 */
export function startupWarnings(config: Config, storedOllamaUrl: string): string[] {
  const w: string[] = [];
  if (!isLoopback(config.adminHost)) {
    w.push(
      `ADMIN_HOST=${config.adminHost}: the admin listener (keys, settings, /metrics) accepts ` +
        `connections from other machines; do not publish port ${config.adminPort}, keep it ` +
        `behind a firewall or a TLS reverse proxy`,
    );
  }
  // Only reachable with ALLOW_WEAK_ADMIN_PASSWORD=true: parseConfig refuses it otherwise.
  const weak = weakPasswordProblem(config.adminPassword);
  if (weak !== null) {
    w.push(`ADMIN_PASSWORD ${weak} (allowed by ALLOW_WEAK_ADMIN_PASSWORD=true): change it`);
  }
  if (config.metricsToken !== null && config.metricsToken.length < MIN_SECRET_LENGTH) {
    w.push(
      `METRICS_TOKEN has ${config.metricsToken.length} characters; use ${MIN_SECRET_LENGTH} or more`,
    );
  }
  if (config.allowedOrigins.includes("*")) {
    w.push("ALLOWED_ORIGINS=*: any web page may call the proxy with a key its visitor holds");
  }
  if (config.metricsKeyLabels) {
    w.push("METRICS_KEY_LABELS=true: metrics carry one series per key name (mind cardinality)");
  }
  if (/^sqlite:\/\/\/:memory:$/.test(config.databaseUrl)) {
    w.push("DATABASE_URL is an in-memory SQLite database: keys and usage vanish at restart");
  }
  // Only for an OLLAMA_URL someone wrote down: the default is no choice being ignored.
  if (config.ollamaUrlSet && storedOllamaUrl !== upstreamUrls(config.ollamaUrl).join(",")) {
    w.push(
      `OLLAMA_URL=${redactUrl(config.ollamaUrl)} is not used: the Ollama boxes stored in the ` +
        `database (${
          storedOllamaUrl.split(",").map(redactUrl).join(", ") || "none"
        }) win (change them on the admin's Ollama boxes page)`,
    );
  }
  return w;
}

/** Warnings about the connection caps: more than the open-file limit allows, or none at all. */
export function connectionWarnings(
  connections: ConnectionLimits,
  dbPoolSize: number,
): string[] {
  if (!connectionControl) {
    return [
      `this Deno (${Deno.version.deno}) lacks the per-connection HTTP API: no headers or idle timeout and no connection cap`,
    ];
  }
  const needed = descriptorsNeeded(connections, dbPoolSize);
  if (connections.openFileLimit === null || needed <= connections.openFileLimit) return [];
  return [
    `PROXY_MAX_CONNECTIONS=${connections.proxy} and ADMIN_MAX_CONNECTIONS=${connections.admin} ` +
    `may need ~${needed} file descriptors, more than the open-file limit (${connections.openFileLimit}): ` +
    `raise the limit (ulimit -n, LimitNOFILE=) or lower the caps`,
  ];
}

/** Gathers the report's facts; asks Ollama for its version (bounded by `timeoutMs`). */
export async function gatherStartupFacts(
  deps: Deps,
  proxyUrl: string,
  adminUrl: string,
  timeoutMs = 3000,
  connections?: ConnectionLimits,
): Promise<StartupFacts> {
  const { config } = deps;
  // The boxes requests use; OLLAMA_URL's stand in when the database cannot be read.
  const rows = await deps.store.listUpstreams().catch(() => null);
  const boxes = rows?.map((r) => upstreamConfig(r, config.secretsKey)) ??
    upstreamUrls(config.ollamaUrl).map((url) => ({
      id: "",
      name: upstreamName(url),
      url,
      token: null,
      enabled: true,
      maxInFlight: null,
    }));
  const stored = boxes.map((b) => b.url).join(",");
  const answers = await Promise.all(
    boxes.map((b) => b.enabled ? askVersion(b.url, b.token, timeoutMs) : null),
  );
  const ollama: OllamaAnswer = answers.find((a) => a !== null) ??
    { answered: false, reason: "no Ollama box is configured (or enabled)", hint: "" };
  return {
    proxyUrl,
    adminUrl,
    database: await describeDatabase(config),
    ollamaUrl: boxes.map((b) => redactUrl(b.url)).join(","),
    ollama,
    upstreams: boxes.map((b, i) => ({
      name: b.name,
      url: redactUrl(b.url),
      enabled: b.enabled,
      maxInFlight: b.maxInFlight,
      ollama: answers[i],
    })),
    timeZone: config.timeZone,
    connections,
    warnings: [
      ...startupWarnings(config, stored),
      ...(connections ? connectionWarnings(connections, config.dbPoolSize) : []),
    ],
  };
}

async function askVersion(
  url: string,
  token: string | null,
  timeoutMs: number,
): Promise<OllamaAnswer> {
  try {
    return { answered: true, version: await ollamaVersion(url, timeoutMs, token) };
  } catch (err) {
    // The URL is on the line already: the reason and what to check follow it.
    return err instanceof OllamaUnavailable
      ? { answered: false, reason: err.reason, hint: err.hint }
      : { answered: false, reason: (err as Error).message, hint: "" };
  }
}

function answerText(answer: OllamaAnswer, several: boolean): string {
  if (answer.answered) return `answered (version ${answer.version})`;
  const consequence = several
    ? "requests go to the other boxes meanwhile"
    : "inference requests get 502 until it does";
  return `did not answer: ${answer.reason}; ${consequence}${answer.hint ? `. ${answer.hint}` : ""}`;
}

/** The report as a readable block, or as one JSON line for LOG_FORMAT=json. */
export function formatStartupReport(
  facts: StartupFacts,
  config: Pick<Config, "logLevel" | "logFormat" | "headersTimeoutMs" | "idleTimeoutMs">,
): string {
  if (config.logFormat === "json") {
    return JSON.stringify({
      time: new Date().toISOString(),
      level: "info",
      msg: "started",
      proxy: facts.proxyUrl,
      admin: facts.adminUrl,
      database: facts.database,
      ollama_url: facts.ollamaUrl,
      ollama: facts.ollama,
      upstreams: facts.upstreams.map((u) => ({
        name: u.name,
        url: u.url,
        enabled: u.enabled,
        max_in_flight: u.maxInFlight,
        ollama: u.ollama,
      })),
      app_tz: facts.timeZone,
      ...(facts.connections
        ? {
          max_connections: { proxy: facts.connections.proxy, admin: facts.connections.admin },
          open_file_limit: facts.connections.openFileLimit,
          headers_timeout_seconds: config.headersTimeoutMs / 1000,
          idle_timeout_seconds: config.idleTimeoutMs / 1000,
        }
        : {}),
      log_level: config.logLevel,
      warnings: facts.warnings,
    });
  }
  const several = facts.upstreams.length > 1;
  // One box keeps its one line; several get a line each, with what the gateway sends them.
  const ollamaLines = several
    ? [
      `  ollama: ${facts.upstreams.length} boxes`,
      ...facts.upstreams.map((u) =>
        `    ${u.name} at ${u.url}: ${
          u.ollama === null ? "disabled" : answerText(u.ollama, true)
        }; at most ${u.maxInFlight ?? "any number of"} in flight`
      ),
    ]
    : [`  ollama: ${facts.ollamaUrl || "no box configured"} ${answerText(facts.ollama, false)}`];
  return [
    "llm-quota started",
    `  proxy listening on ${facts.proxyUrl} (API keys; /healthz, /readyz)`,
    `  admin listening on ${facts.adminUrl} (admin UI and API; /metrics, /healthz, /readyz)`,
    `  database: ${facts.database}`,
    ...ollamaLines,
    `  APP_TZ: ${facts.timeZone}`,
    ...(facts.connections
      ? [
        `  connections: at most ${facts.connections.proxy} (proxy) and ${facts.connections.admin} ` +
        `(admin) open; open-file limit ${
          facts.connections.openFileLimit ??
            `not readable without --allow-all (${ASSUMED_LIMIT} assumed)`
        }; headers timeout ${config.headersTimeoutMs / 1000} s, idle timeout ${
          config.idleTimeoutMs / 1000
        } s`,
      ]
      : []),
    `  logs: level ${config.logLevel}, format ${config.logFormat}`,
    ...facts.warnings.map((w) => `  WARNING: ${w}`),
  ].join("\n");
}
