/**
 * Configuration: read once from the environment at start, validated with zod.
 * @module
 */
import { z } from "zod";

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
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
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
  logLevel: "debug" | "info" | "warn" | "error";
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
    logLevel: c.LOG_LEVEL,
  };
}
