/**
 * Configuration: read once from the environment at start, validated with zod.
 * @module
 */
import { z } from "zod";
import { parseCidr } from "./cidr.ts";
import { publicUrlField } from "./public_url.ts";
import { isLoopback } from "./loopback.ts";

/** A whole number in [min, max]; the message says what is allowed (zod's own says "NaN"). */
function wholeNumber(min: number, max?: number) {
  const error = max === undefined
    ? `must be a whole number, ${min} or more`
    : `must be a whole number from ${min} to ${max}`;
  const n = z.coerce.number({ error }).int({ error }).min(min, { error });
  return max === undefined ? n : n.max(max, { error });
}
/** A number of seconds, fractions allowed, above 0 (or from 0 with `min: 0`). */
function seconds(min: 0 | "positive" = "positive") {
  const error = min === 0
    ? "must be a number of seconds, 0 or more"
    : "must be a number of seconds above 0";
  const n = z.coerce.number({ error }).refine(Number.isFinite, { error });
  return min === 0 ? n.min(0, { error }) : n.positive({ error });
}
/** One of `values`; the message lists them (zod's own says "Invalid option: expected …"). */
function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(", ")}` });
}
/** true or false (also 1/0, yes/no, on/off). */
const flag = () => z.stringbool({ error: "must be true or false" });
const port = wholeNumber(0, 65535);
const positiveInt = wholeNumber(1);

/** The DATABASE_URL forms the gateway opens, for messages. */
export const DATABASE_URL_FORMS =
  "sqlite:///relative/path, sqlite:////absolute/path, sqlite:///:memory: or " +
  "postgres://user:password@host:5432/database (postgresql:// too)";
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
  DATABASE_URL: z.string().min(1).default("sqlite:///./data/llm-quota.db").refine(
    (url) => /^(sqlite:\/\/\/.|postgres(ql)?:\/\/)/.test(url),
    // Never the URL itself: it may hold a password. Its scheme is enough to see the mistake.
    {
      error: (issue) =>
        `DATABASE_URL must be ${DATABASE_URL_FORMS}; got ${
          /^[a-z][a-z0-9+.-]*:/i.exec(String(issue.input))?.[0].concat("//…") ?? "no URL scheme"
        }`,
    },
  ),
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
  QUEUE_MAX: wholeNumber(0).default(256),
  QUEUE_TIMEOUT_SECONDS: seconds().default(60),
  MAX_BODY_BYTES: positiveInt.default(10 * 1024 * 1024),
  SHUTDOWN_GRACE_SECONDS: seconds(0).default(30),
  PROXY_MAX_CONNECTIONS: positiveInt.optional(),
  ADMIN_MAX_CONNECTIONS: positiveInt.optional(),
  HEADERS_TIMEOUT_SECONDS: seconds().default(30),
  IDLE_TIMEOUT_SECONDS: seconds().default(75),
  STALE_RESERVATION_MINUTES: positiveInt.default(60),
  REQUEST_LOG_RETENTION_DAYS: positiveInt.default(90),
  HEARTBEAT_SECONDS: positiveInt.default(10),
  TRUSTED_PROXIES: z.string().default("").refine(
    (v) => v.split(",").map((c) => c.trim()).filter(Boolean).every((c) => parseCidr(c) !== null),
    { message: "must be comma-separated IP addresses or CIDR ranges such as 10.0.0.0/8" },
  ),
  SECRETS_KEY: z.string().optional(),
  LOG_LEVEL: oneOf(["debug", "info", "warn", "error"]).default("info"),
  LOG_FORMAT: oneOf(["text", "json"]).default("text"),
  METRICS_TOKEN: z.string().optional(),
  METRICS_KEY_LABELS: flag().default(false),
  ADMIN_ALLOWED_HOSTS: z.string().default(""),
  ALLOW_WEAK_ADMIN_PASSWORD: flag().default(false),
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
  /** Whether OLLAMA_URL was set (environment or .env) rather than left at its default. */
  ollamaUrlSet: boolean;
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
  /** Open connections per listener at most; null: derived from the open-file limit at start. */
  proxyMaxConnections: number | null;
  adminMaxConnections: number | null;
  /** How long a new connection may take to send its first request's headers, in ms. */
  headersTimeoutMs: number;
  /** How long a keep-alive connection may wait for its next request, in ms. */
  idleTimeoutMs: number;
  /** Reservations pending longer than this are released (their gateway died), in minutes. */
  staleReservationMinutes: number;
  /** Days the request log keeps a row (never a pending one); rollups outlive it. */
  requestLogRetentionDays: number;
  /**
   * How often a gateway records that it is alive (seconds); one silent for three of these is
   * presumed dead and its in-flight requests and reservations are released.
   */
  heartbeatSeconds: number;
  /** Proxies whose X-Forwarded-For is believed (CIDRs); empty: the peer address counts. */
  trustedProxies: string[];
  /** What stored secrets are encrypted under (SECRETS_KEY, else the admin password). */
  secretsKey: string;
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

/**
 * Whether two listeners on these hosts and the same port would collide: unless both name
 * different specific addresses (a wildcard such as 0.0.0.0 covers every address).
 */
function sharesAddress(a: string, b: string): boolean {
  const wildcard = (h: string) => h === "0.0.0.0" || h === "::" || h === "[::]";
  return a === b || wildcard(a) || wildcard(b);
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
    let message = issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`;
    if (/^must be (a (whole )?number|one of |true or false)/.test(issue.message)) {
      // Numbers, levels and flags are never secret: showing the value makes a typo obvious.
      // (Other values, URLs above all, may carry a password and are never shown.)
      const value = String(cleaned[name]);
      message = `${name} ${issue.message}; got ${
        JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)
      }`;
    }
    throw new ConfigError(`Cannot start: ${message}`);
  }
  const c = result.data;
  if (
    c.PROXY_PORT !== 0 && c.PROXY_PORT === c.ADMIN_PORT && sharesAddress(c.PROXY_HOST, c.ADMIN_HOST)
  ) {
    throw new ConfigError(
      `Cannot start: PROXY_PORT and ADMIN_PORT are both ${c.PROXY_PORT}; set one of them to another port (in .env or the environment)`,
    );
  }
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
    ollamaUrl: c.OLLAMA_URL,
    ollamaUrlSet: cleaned.OLLAMA_URL !== undefined,
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
    proxyMaxConnections: c.PROXY_MAX_CONNECTIONS ?? null,
    adminMaxConnections: c.ADMIN_MAX_CONNECTIONS ?? null,
    headersTimeoutMs: c.HEADERS_TIMEOUT_SECONDS * 1000,
    idleTimeoutMs: c.IDLE_TIMEOUT_SECONDS * 1000,
    staleReservationMinutes: c.STALE_RESERVATION_MINUTES,
    requestLogRetentionDays: c.REQUEST_LOG_RETENTION_DAYS,
    heartbeatSeconds: c.HEARTBEAT_SECONDS,
    trustedProxies: c.TRUSTED_PROXIES.split(",").map((v) => v.trim()).filter(Boolean),
    secretsKey: c.SECRETS_KEY || c.ADMIN_PASSWORD,
    logLevel: c.LOG_LEVEL,
    logFormat: c.LOG_FORMAT,
    metricsToken: c.METRICS_TOKEN ?? null,
    metricsKeyLabels: c.METRICS_KEY_LABELS,
    adminAllowedHosts: parseAllowedHosts(c.ADMIN_ALLOWED_HOSTS),
  };
}
