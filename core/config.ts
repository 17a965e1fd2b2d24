/**
 * Configuration: read once from the environment at start, validated with zod.
 * @module
 */
import { z } from "zod";
import { isLoopback } from "./loopback.ts";

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

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
  OLLAMA_URL: z.url({ protocol: /^https?$/ }).default("http://localhost:11434"),
  DEFAULT_MODEL: z.string().min(1).default("llama3"),
  APP_TZ: z.string().default("Europe/Berlin").refine(isTimeZone, {
    message: "must be a valid IANA time zone such as Europe/Berlin",
  }),
  ALLOWED_ORIGINS: z.string().default(""),
  MAX_RESERVED_TOKENS: positiveInt.default(4096),
  DB_POOL_SIZE: positiveInt.default(10),
  DB_STATEMENT_TIMEOUT_MS: positiveInt.default(5000),
  DB_CONNECT_TIMEOUT_SECONDS: positiveInt.default(30),
  UPSTREAM_CONNECT_TIMEOUT: positiveInt.default(600),
  MAX_BODY_BYTES: positiveInt.default(10 * 1024 * 1024),
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).default(30),
  STALE_RESERVATION_MINUTES: positiveInt.default(60),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  LOG_FORMAT: z.enum(["text", "json"]).default("text"),
  METRICS_TOKEN: z.string().optional(),
  METRICS_KEY_LABELS: z.stringbool().default(false),
  ADMIN_ALLOWED_HOSTS: z.string().default(""),
  ALLOW_WEAK_ADMIN_PASSWORD: z.stringbool().default(false),
});

/** The gateway's validated configuration. */
export interface Config {
  adminPassword: string;
  proxyHost: string;
  proxyPort: number;
  adminHost: string;
  adminPort: number;
  databaseUrl: string;
  ollamaUrl: string;
  defaultModel: string;
  timeZone: string;
  allowedOrigins: string[];
  /** Upper bound of the tokens one request reserves for its output when a token limit applies. */
  maxReservedTokens: number;
  dbPoolSize: number;
  dbStatementTimeoutMs: number;
  dbConnectTimeoutSeconds: number;
  /** How long to wait for Ollama's response headers (model loads take minutes), in ms. */
  upstreamConnectTimeoutMs: number;
  maxBodyBytes: number;
  shutdownGraceSeconds: number;
  /** Reservations pending longer than this are released (their gateway died), in minutes. */
  staleReservationMinutes: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** `text`: readable lines; `json`: one JSON object per line, for log shippers. */
  logFormat: "text" | "json";
  /** A second bearer token accepted by GET /metrics (besides ADMIN_PASSWORD); null: none. */
  metricsToken: string | null;
  /** Whether metrics carry a `key` label with the key's name (one series per key). */
  metricsKeyLabels: boolean;
  /** Host names (lower case, no port) the admin listener answers to besides loopback names. */
  adminAllowedHosts: string[];
}

/** Passwords published as examples (.env.example, earlier READMEs): never accepted. */
export const EXAMPLE_ADMIN_PASSWORDS: readonly string[] = [
  "change-me-to-a-long-secret",
  "choose-a-long-secret",
];
/** The shortest ADMIN_PASSWORD accepted (in characters) without ALLOW_WEAK_ADMIN_PASSWORD. */
export const MIN_ADMIN_PASSWORD_LENGTH = 16;

/** What is wrong with an admin password, or null when it is long and not an example. */
export function weakPasswordProblem(password: string): string | null {
  if (EXAMPLE_ADMIN_PASSWORDS.includes(password)) {
    return "is an example value (from .env.example or the README)";
  }
  const length = [...password].length;
  if (length < MIN_ADMIN_PASSWORD_LENGTH) {
    return `has ${length} characters, fewer than ${MIN_ADMIN_PASSWORD_LENGTH}`;
  }
  return null;
}

const HOST_NAME = /^(?:[a-z0-9._-]+|\[[0-9a-f:.]+\])$/;

/** ADMIN_ALLOWED_HOSTS as bare lower-case host names; a port given with a name is dropped. */
function parseAllowedHosts(text: string): string[] {
  const hosts: string[] = [];
  for (const entry of text.split(",").map((h) => h.trim().toLowerCase()).filter(Boolean)) {
    const host = entry.replace(/:\d+$/, "");
    if (!HOST_NAME.test(host)) {
      throw new ConfigError(
        `Cannot start: ADMIN_ALLOWED_HOSTS: ${JSON.stringify(entry.slice(0, 100))} is not a ` +
          "host name (expected comma-separated names such as admin.example.com)",
      );
    }
    hosts.push(host);
  }
  return hosts;
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
  const weak = requireAdminPassword ? weakPasswordProblem(c.ADMIN_PASSWORD) : null;
  if (weak !== null && !isLoopback(c.ADMIN_HOST)) {
    // ALLOW_WEAK_ADMIN_PASSWORD is for trying the gateway out on one machine, never for a
    // listener other machines can reach.
    throw new ConfigError(
      `Cannot start: ADMIN_PASSWORD ${weak}, and ADMIN_HOST ${c.ADMIN_HOST} is not a loopback ` +
        `address: choose a password of ${MIN_ADMIN_PASSWORD_LENGTH} or more characters`,
    );
  }
  if (weak !== null && !c.ALLOW_WEAK_ADMIN_PASSWORD) {
    throw new ConfigError(
      `Cannot start: ADMIN_PASSWORD ${weak}: choose your own of ` +
        `${MIN_ADMIN_PASSWORD_LENGTH} or more (e.g. deno eval "console.log(crypto.randomUUID())"), ` +
        "or set ALLOW_WEAK_ADMIN_PASSWORD=true for a throwaway instance on loopback",
    );
  }
  return {
    adminPassword: c.ADMIN_PASSWORD,
    proxyHost: c.PROXY_HOST,
    proxyPort: c.PROXY_PORT,
    adminHost: c.ADMIN_HOST,
    adminPort: c.ADMIN_PORT,
    databaseUrl: c.DATABASE_URL,
    ollamaUrl: c.OLLAMA_URL.replace(/\/+$/, ""),
    defaultModel: c.DEFAULT_MODEL,
    timeZone: c.APP_TZ,
    allowedOrigins: c.ALLOWED_ORIGINS.split(",").map((o) => o.trim().replace(/\/+$/, "")).filter(
      Boolean,
    ),
    maxReservedTokens: c.MAX_RESERVED_TOKENS,
    dbPoolSize: c.DB_POOL_SIZE,
    dbStatementTimeoutMs: c.DB_STATEMENT_TIMEOUT_MS,
    dbConnectTimeoutSeconds: c.DB_CONNECT_TIMEOUT_SECONDS,
    upstreamConnectTimeoutMs: c.UPSTREAM_CONNECT_TIMEOUT * 1000,
    maxBodyBytes: c.MAX_BODY_BYTES,
    shutdownGraceSeconds: c.SHUTDOWN_GRACE_SECONDS,
    staleReservationMinutes: c.STALE_RESERVATION_MINUTES,
    logLevel: c.LOG_LEVEL,
    logFormat: c.LOG_FORMAT,
    metricsToken: c.METRICS_TOKEN ?? null,
    metricsKeyLabels: c.METRICS_KEY_LABELS,
    adminAllowedHosts: parseAllowedHosts(c.ADMIN_ALLOWED_HOSTS),
  };
}
