/**
 * The limits a key can have, as one table: each entry names the flat field the admin API, the
 * forms and the CLI use, what it counts and in which window, and how people read it. A new
 * limit is a new entry here; everything that lists limits loops over this table.
 * @module
 */
import type { Limit, Metric, Policy, Window } from "./model.ts";

/** One kind of limit, as the admin and the clients see it. */
export interface LimitKind {
  /** The field in API bodies and rows, e.g. `daily_token_limit`. */
  field: string;
  metric: Metric;
  window: Window;
  /** The CLI flag (without `--`). */
  flag: string;
  /** `error.code` of the 429 it causes. */
  code: string;
  /** Its name in log lines and metric labels: `daily_tokens`. */
  slug: string;
  /** A title for messages and forms: "Daily token limit". */
  title: string;
  /** The unit after a number: "tokens per day". */
  unit: string;
  /** A short form label. */
  label: string;
}

/** Every limit kind, in the order forms and listings show them. */
export const LIMIT_KINDS = [
  {
    field: "daily_request_limit",
    slug: "daily_requests",
    metric: "requests",
    window: "day",
    flag: "daily-requests",
    code: "daily_request_limit_exceeded",
    title: "Daily request limit",
    unit: "requests per day",
    label: "Requests per day",
  },
  {
    field: "monthly_request_limit",
    slug: "monthly_requests",
    metric: "requests",
    window: "month",
    flag: "monthly-requests",
    code: "monthly_request_limit_exceeded",
    title: "Monthly request limit",
    unit: "requests per month",
    label: "Requests per month",
  },
  {
    field: "daily_token_limit",
    slug: "daily_tokens",
    metric: "tokens",
    window: "day",
    flag: "daily-tokens",
    code: "daily_token_limit_exceeded",
    title: "Daily token limit",
    unit: "tokens per day",
    label: "Tokens per day",
  },
  {
    field: "monthly_token_limit",
    slug: "monthly_tokens",
    metric: "tokens",
    window: "month",
    flag: "monthly-tokens",
    code: "monthly_token_limit_exceeded",
    title: "Monthly token limit",
    unit: "tokens per month",
    label: "Tokens per month",
  },
  {
    field: "requests_per_minute",
    slug: "requests_per_minute",
    metric: "requests",
    window: "minute",
    flag: "requests-per-minute",
    code: "requests_per_minute",
    title: "Per-minute request limit",
    unit: "requests per minute",
    label: "Requests per minute",
  },
  {
    field: "tokens_per_minute",
    slug: "tokens_per_minute",
    metric: "tokens",
    window: "minute",
    flag: "tokens-per-minute",
    code: "tokens_per_minute",
    title: "Per-minute token limit",
    unit: "tokens per minute",
    label: "Tokens per minute",
  },
  {
    field: "max_concurrent",
    slug: "concurrent_requests",
    metric: "concurrent",
    window: "none",
    flag: "max-concurrent",
    code: "concurrent_requests",
    title: "Concurrent request limit",
    unit: "requests at a time",
    label: "Requests at a time",
  },
] as const satisfies ReadonlyArray<LimitKind>;

/** The flat field name of a limit kind. */
export type LimitField = typeof LIMIT_KINDS[number]["field"];

/** The limit kind counting `metric` in `window`. */
export function kindOf(limit: Pick<Limit, "metric" | "window">): LimitKind {
  const kind = (LIMIT_KINDS as ReadonlyArray<LimitKind>).find((k) =>
    k.metric === limit.metric && k.window === limit.window
  );
  if (!kind) throw new Error(`Cannot describe a ${limit.metric} limit per ${limit.window}`);
  return kind;
}

/** The flat fields of a policy's limits (`daily_token_limit: 1000`, null when unset). */
export type LimitFields = Record<LimitField, number | null>;

/** A policy's limits as flat fields, one per kind (null: no such limit). */
export function limitFieldsOf(policy: Policy): LimitFields {
  const out = {} as LimitFields;
  for (const kind of LIMIT_KINDS) {
    out[kind.field] = policy.limits.find((l) =>
      l.metric === kind.metric && l.window === kind.window
    )?.max ?? null;
  }
  return out;
}

/**
 * The limits after applying flat fields: a present field sets (a number) or removes (null) its
 * limit; absent fields leave theirs alone.
 */
export function withLimitFields(limits: Limit[], fields: Record<string, unknown>): Limit[] {
  let out = [...limits];
  for (const kind of LIMIT_KINDS) {
    if (!(kind.field in fields) || fields[kind.field] === undefined) continue;
    const max = fields[kind.field];
    out = out.filter((l) => !(l.metric === kind.metric && l.window === kind.window));
    if (typeof max === "number") out.push({ metric: kind.metric, window: kind.window, max });
  }
  // Table order, so a policy reads the same however it was built.
  const order = (l: Limit) => (LIMIT_KINDS as ReadonlyArray<LimitKind>).indexOf(kindOf(l));
  return out.sort((a, b) => order(a) - order(b));
}

/** Whether a policy limits tokens in any window (then prompts are bounded before forwarding). */
export function limitsTokens(policy: Policy): boolean {
  return policy.limits.some((l) => l.metric === "tokens");
}
