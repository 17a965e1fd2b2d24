/**
 * Configuration: read once from the environment at start, validated with zod.
 * @module
 */
import { z } from "zod";
import { publicUrlField } from "./public_url.ts";

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const httpUrl = z.url({ protocol: /^https?$/ });

/**
 * OLLAMA_URL: one Ollama URL, or several separated by commas (one box each); normalised to
 * the URLs without trailing slashes, joined by commas.
 */
const ollamaUrls = z.string().transform((text, ctx) => {
  const urls = text.split(",").map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0 || urls.some((u) => !httpUrl.safeParse(u).success)) {
    // The value is not quoted: a URL may carry a password.
    ctx.addIssue({
      code: "custom",
      message: "must be an http:// or https:// URL, or several separated by commas",
    });
    return z.NEVER;
  }
  return urls.map((u) => u.replace(/\/+$/, "")).join(",");
});

const schema = z.object({
  ADMIN_PASSWORD: z.string({ error: "ADMIN_PASSWORD is required" }).min(
    1,
    "ADMIN_PASSWORD is required",
  ),
  PROXY_HOST: z.string().min(1).default("0.0.0.0"),
  PROXY_PORT: port.default(8000),
  ADMIN_HOST: z.string().min(1).default("127.0.0.1"),
  ADMIN_PORT: port.default(8001),
  DATABASE_URL: z.string().min(1).default("sqlite:///./data/llm-quota.db"),
  OLLAMA_URL: ollamaUrls.default("http://localhost:11434"),
  DEFAULT_MODEL: z.string().min(1).default("llama3"),
  PUBLIC_URL: publicUrlField(
    "PUBLIC_URL must be an http:// or https:// URL without user name, query or fragment, e.g. https://llm.example.com",
  ).optional(),
  APP_TZ: z.string().default("Europe/Berlin").refine(isTimeZone, {
    message: "must be a valid IANA time zone such as Europe/Berlin",
  }),
  ALLOWED_ORIGINS: z.string().default(""),
  MAX_RESERVED_TOKENS: positiveInt.default(4096),
  DB_POOL_SIZE: positiveInt.default(10),
  DB_STATEMENT_TIMEOUT_MS: positiveInt.default(5000),
  DB_CONNECT_TIMEOUT_SECONDS: positiveInt.default(30),
  UPSTREAM_CONNECT_TIMEOUT: positiveInt.default(600),
  QUEUE_MAX: z.coerce.number().int().min(0).default(256),
  QUEUE_TIMEOUT_SECONDS: z.coerce.number().positive().default(60),
  MAX_BODY_BYTES: positiveInt.default(10 * 1024 * 1024),
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).default(30),
  STALE_RESERVATION_MINUTES: positiveInt.default(60),
  HEARTBEAT_SECONDS: positiveInt.default(10),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  LOG_FORMAT: z.enum(["text", "json"]).default("text"),
  METRICS_TOKEN: z.string().optional(),
  METRICS_KEY_LABELS: z.stringbool().default(false),
});

/** The gateway's validated configuration. */
export interface Config {
  adminPassword: string;
  proxyHost: string;
  proxyPort: number;
  adminHost: string;
  adminPort: number;
  databaseUrl: string;
  /** The Ollama box, or several separated by commas (each without a trailing slash). */
  ollamaUrl: string;
  defaultModel: string;
  /**
   * The proxy's address as clients reach it (PUBLIC_URL), for the Proxy info snippets when the
   * Settings page sets none; null: derived from the listener and the admin's Host.
   */
  publicUrl: string | null;
  timeZone: string;
  allowedOrigins: string[];
  /** Upper bound of the tokens one request reserves for its output when a token limit applies. */
  maxReservedTokens: number;
  dbPoolSize: number;
  dbStatementTimeoutMs: number;
  dbConnectTimeoutSeconds: number;
  /** How long to wait for Ollama's response headers (model loads take minutes), in ms. */
  upstreamConnectTimeoutMs: number;
  /** Requests that may wait for a free Ollama box at most (QUEUE_MAX). */
  queueMax: number;
  /** How long a request waits for a free Ollama box at most (QUEUE_TIMEOUT_SECONDS), in ms. */
  queueTimeoutMs: number;
  maxBodyBytes: number;
  shutdownGraceSeconds: number;
  /** Reservations pending longer than this are released (their gateway died), in minutes. */
  staleReservationMinutes: number;
  /**
   * How often a gateway records that it is alive (seconds); one silent for three of these is
   * presumed dead and its in-flight requests and reservations are released.
   */
  heartbeatSeconds: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** `text`: readable lines; `json`: one JSON object per line, for log shippers. */
  logFormat: "text" | "json";
  /** A second bearer token accepted by GET /metrics (besides ADMIN_PASSWORD); null: none. */
  metricsToken: string | null;
  /** Whether metrics carry a `key` label with the key's name (one series per key). */
  metricsKeyLabels: boolean;
}

/** Whether a bind address only accepts connections from this machine. */
function isLoopback(host: string): boolean {
  // An IPv4 literal only: a host name such as 127.example.com may resolve anywhere.
  return host === "localhost" || host === "::1" || host === "[::1]" ||
    /^127(\.\d{1,3}){3}$/.test(host);
}

/** Thrown when the environment holds a missing or wrong value; its message is one line. */
export class ConfigError extends Error {}

function isTimeZone(name: string): boolean {
  try {
    Temporal.Now.zonedDateTimeISO(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses the environment into a Config, or throws a ConfigError naming the first bad variable.
 * Tools that never serve the admin (the key CLI) pass `requireAdminPassword: false`.
 */
export function parseConfig(
  env: Record<string, string | undefined>,
  { requireAdminPassword = true } = {},
): Config {
  // An empty variable (e.g. `PROXY_PORT=` in .env) means "use the default", not "invalid".
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ""),
  );
  const result =
    (requireAdminPassword ? schema : schema.extend({ ADMIN_PASSWORD: z.string().default("") }))
      .safeParse(cleaned);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = String(issue.path[0] ?? "config");
    const message = issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`;
    throw new ConfigError(`Cannot start: ${message}`);
  }
  const c = result.data;
  if (!isLoopback(c.ADMIN_HOST) && c.ADMIN_PASSWORD.length < 12 && requireAdminPassword) {
    throw new ConfigError(
      `Cannot start: ADMIN_HOST ${c.ADMIN_HOST} is not a loopback address, so ADMIN_PASSWORD must be at least 12 characters`,
    );
  }
  return {
    adminPassword: c.ADMIN_PASSWORD,
    proxyHost: c.PROXY_HOST,
    proxyPort: c.PROXY_PORT,
    adminHost: c.ADMIN_HOST,
    adminPort: c.ADMIN_PORT,
    databaseUrl: c.DATABASE_URL,
    ollamaUrl: c.OLLAMA_URL,
    defaultModel: c.DEFAULT_MODEL,
    publicUrl: c.PUBLIC_URL || null,
    timeZone: c.APP_TZ,
    allowedOrigins: c.ALLOWED_ORIGINS.split(",").map((o) => o.trim().replace(/\/+$/, "")).filter(
      Boolean,
    ),
    maxReservedTokens: c.MAX_RESERVED_TOKENS,
    dbPoolSize: c.DB_POOL_SIZE,
    dbStatementTimeoutMs: c.DB_STATEMENT_TIMEOUT_MS,
    dbConnectTimeoutSeconds: c.DB_CONNECT_TIMEOUT_SECONDS,
    upstreamConnectTimeoutMs: c.UPSTREAM_CONNECT_TIMEOUT * 1000,
    queueMax: c.QUEUE_MAX,
    queueTimeoutMs: Math.round(c.QUEUE_TIMEOUT_SECONDS * 1000),
    maxBodyBytes: c.MAX_BODY_BYTES,
    shutdownGraceSeconds: c.SHUTDOWN_GRACE_SECONDS,
    staleReservationMinutes: c.STALE_RESERVATION_MINUTES,
    heartbeatSeconds: c.HEARTBEAT_SECONDS,
    logLevel: c.LOG_LEVEL,
    logFormat: c.LOG_FORMAT,
    metricsToken: c.METRICS_TOKEN ?? null,
    metricsKeyLabels: c.METRICS_KEY_LABELS,
  };
}
