/**
 * The key CLI: `deno task key create|list|deactivate|activate|audit|usage|export`, on the server's
 * DATABASE_URL. `--help` (or `help`) prints the usage; a wrong call prints what is wrong and
 * the usage, and exits 2.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { systemClock } from "../core/clock.ts";
import { ConfigError, parseConfig } from "../core/config.ts";
import { createApiKey, listKeyViews, parseExpiry, updateApiKey } from "../core/api_keys.ts";
import { lastValidDay } from "../core/key_expiry.ts";
import { LIMIT_KINDS } from "../core/limits.ts";
import { checkKeyName, KEY_NAME_MESSAGES, printableName } from "../core/key_name.ts";
import { loadEnvFile } from "../ops/env_file.ts";
import { openStore } from "../db/mod.ts";
import type { Store } from "../core/store.ts";
import { keyJson, keyTable } from "./key_table.ts";
import { AnalyticsInputError } from "../core/analytics/range.ts";
import { parseExportParams, parseUsageParams, type RawParams } from "../core/analytics/params.ts";
import { primed, requestExportStream, usageExportStream } from "../core/analytics/export_stream.ts";
import type { UsageRow } from "../core/analytics/types.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** The policy's other fields as flags (the limits come from LIMIT_KINDS). */
const POLICY_FLAGS = [
  {
    flag: "models",
    field: "models",
    usage: "--models A,B",
    help: "allowed models (qwen3:* globs)",
  },
  {
    flag: "max-output-tokens",
    field: "max_output_tokens",
    usage: "--max-output-tokens N",
    help: "ceiling on the generation limit",
  },
  {
    flag: "max-num-ctx",
    field: "max_num_ctx",
    usage: "--max-num-ctx N",
    help: "ceiling on options.num_ctx",
  },
  {
    flag: "idle-days",
    field: "idle_days",
    usage: "--idle-days N",
    help: "unused that long: expired",
  },
] as const;

interface Command {
  /** One line for the command list. */
  summary: string;
  /** The command's own usage, options included. */
  usage: string;
  options: Options;
  /** How many positional arguments it takes. */
  positionals: number;
}

const HELP: Options = { help: { type: "boolean", short: "h" } };

/** The filters the analytics commands share, as the admin API's parameters. */
const FILTER_OPTIONS: Options = {
  from: { type: "string" },
  to: { type: "string" },
  "key-id": { type: "string" },
  model: { type: "string" },
  route: { type: "string" },
};
const ANALYTICS_FILTERS =
  `  --from DATE             first day (2026-06-01) or date-time (2026-06-01T08:00)
  --to DATE               last day (included) or date-time (excluded)
  --key-id N              one key (the ID column of \`deno task key list\`)
  --model NAME            one model
  --route PATH            one route (/api/chat, /v1/chat/completions, …)`;

/** CLI flags as the analytics parameters (`--key-id` → `key_id`). */
function analyticsParams(values: Record<string, unknown>, names: string[]): RawParams {
  return Object.fromEntries(
    names.map((n) => [n.replaceAll("-", "_"), values[n] as string | undefined]),
  );
}

const COMMANDS: Record<string, Command> = {
  create: {
    summary: "create a key and print it (it is shown only once)",
    usage: `Usage: deno task key create --name NAME [options]

Options (limits default to none):
  --name NAME             the key's name (1 to 200 characters, no control characters)
${
      [
        ...LIMIT_KINDS.map((k) => [`--${k.flag} N`, k.unit]),
        ...POLICY_FLAGS.map((f) => [f.usage, f.help]),
      ]
        .map(([flag, help]) => `  ${flag.padEnd(24)}${help}`).join("\n")
    }
  --expires DATE          the last day the key works, in APP_TZ (2026-12-31),
                          or an ISO date-time (default: never expires)
  -h, --help              show this help`,
    options: {
      name: { type: "string" },
      ...Object.fromEntries(
        [...LIMIT_KINDS.map((k) => k.flag), ...POLICY_FLAGS.map((f) => f.flag)].map((
          flag,
        ) => [flag, { type: "string" as const }]),
      ),
      expires: { type: "string" },
      ...HELP,
    },
    positionals: 0,
  },
  list: {
    summary: "list the keys with today's and this month's usage",
    usage: `Usage: deno task key list [--json]

Options:
  --json                  print the keys as JSON (names in full, expiry as instant and day)
  -h, --help              show this help`,
    options: { json: { type: "boolean" }, ...HELP },
    positionals: 0,
  },
  deactivate: {
    summary: "switch a key off: deactivate ID",
    usage: "Usage: deno task key deactivate ID      (the ID column of `deno task key list`)",
    options: HELP,
    positionals: 1,
  },
  activate: {
    summary: "switch a key on again: activate ID",
    usage: "Usage: deno task key activate ID        (the ID column of `deno task key list`)",
    options: HELP,
    positionals: 1,
  },
  audit: {
    summary: "recompute counters and usage rollups from the ledger (exit 1 on a difference)",
    usage: "Usage: deno task key audit",
    options: HELP,
    positionals: 0,
  },
  usage: {
    summary: "usage from the rollups, grouped by day, hour, model, key…",
    usage: `Usage: deno task key usage [options]

Options (dates and date-times in APP_TZ; default: the last 7 days, by day):
${ANALYTICS_FILTERS}
  --group-by LIST         day, hour, 15m, month, model, key, route (comma-separated,
                          at most one time unit; default: day)
  --json                  print the rows as JSON
  -h, --help              show this help`,
    options: {
      ...FILTER_OPTIONS,
      "group-by": { type: "string" },
      json: { type: "boolean" },
      ...HELP,
    },
    positionals: 0,
  },
  export: {
    summary: "export the request log or usage as CSV or NDJSON (streamed)",
    usage: `Usage: deno task key export --dataset requests|usage [options]

Options (dates and date-times in APP_TZ; default: the last 7 days):
  --dataset NAME          requests (the request log, newest first) or usage (rollups)
  --format FORMAT         csv (default; formula-like cells escaped) or ndjson
${ANALYTICS_FILTERS}
  --status STATUS         requests only: ok, refused, error, disconnected, pending
  --group-by LIST         usage only: as for \`deno task key usage\` (default: day)
  --output FILE           write to FILE instead of standard output
  -h, --help              show this help`,
    options: {
      ...FILTER_OPTIONS,
      dataset: { type: "string" },
      format: { type: "string" },
      status: { type: "string" },
      "group-by": { type: "string" },
      output: { type: "string" },
      ...HELP,
    },
    positionals: 0,
  },
};

const USAGE = `Usage: deno task key <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`).join("\n")}
  help        show this help, or a command's: help create

Run \`deno task key <command> --help\` for a command's options. The CLI works on the
server's DATABASE_URL, with days and expiry dates in APP_TZ (environment or .env).`;

/** A wrong call: its message is printed with the usage (of `command`, when known). */
class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

function limitArg(value: string | undefined, flag: string): number | null {
  if (value === undefined) return null;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${flag} must be a whole number ≥ 0`, "create");
  }
  return Number(value);
}

function idArg(value: string | undefined, command: string): number {
  if (!value || !/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError("an ID (a whole number) is required", command);
  }
  return Number(value);
}

/** Edit distance, for "did you mean" on a misspelled option. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** Node's parse errors, told in our words. */
function parseError(err: Error & { code?: string }, name: string, command: Command): UsageError {
  const quoted = /'([^']*)'/.exec(err.message)?.[1] ?? "";
  const option = quoted.split(" ")[0];
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const flag = option.replace(/^-+/, "").split("=")[0];
      const close = Object.keys(command.options).filter((o) => distance(flag, o) <= 2);
      const hint = close.length ? ` (did you mean --${close[0]}?)` : "";
      return new UsageError(`unknown option '${option}' for '${name}'${hint}`, name);
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (/does not take an argument/.test(err.message)) {
        return new UsageError(`${option} takes no value`, name);
      }
      // "argument missing", or "ambiguous" when the next word is another option.
      return new UsageError(
        `${option} needs a value (one that starts with "-" is written ${option}=-value)`,
        name,
      );
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(`unexpected argument '${quoted}' for '${name}'`, name);
    default:
      return new UsageError(err.message, name);
  }
}

/** Usage rows as an aligned text table. */
function usageTable(rows: UsageRow[]): string {
  const dims = (["period", "key_id", "model", "route"] as const).filter((d) =>
    rows.some((r) => r[d] !== undefined)
  );
  const head = [...dims, "requests", "ok", "refused", "errors", "prompt", "completion"];
  const body = rows.map((r) => [
    ...dims.map((d) => printableName(String(r[d]))),
    ...[r.requests, r.ok, r.refused, r.errors, r.prompt_tokens, r.completion_tokens].map(String),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [head, ...body].map((cells) =>
    cells.map((c, i) => i < dims.length ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  ")
  ).join("\n");
}

/** Bad analytics input as the CLI names it: `--group-by: …` for the parameter `group_by`. */
function flagMessage(err: AnalyticsInputError): string {
  return `--${err.message.replace(/^(\w+)/, (p) => p.replaceAll("_", "-"))}`;
}

/** Runs one CLI command; returns the exit code. */
export async function runCli(args: string[], env: Record<string, string>): Promise<number> {
  let store: Store | null = null;
  try {
    const [name, ...rest] = args;
    if (name === undefined) throw new UsageError("a command is required");
    if (name === "--help" || name === "-h" || name === "help") {
      const topic = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
      if (rest[0] !== undefined && !topic) throw new UsageError(`unknown command '${rest[0]}'`);
      console.log(topic ? topic.usage : USAGE);
      return 0;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!command) throw new UsageError(`unknown command '${name}'`);
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true });
    } catch (err) {
      throw parseError(err as Error, name, command);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      console.log(command.usage);
      return 0;
    }
    if (positionals.length > command.positionals) {
      throw new UsageError(`unexpected argument '${positionals[command.positionals]}'`, name);
    }
    const config = parseConfig(env, { requireAdminPassword: false });
    const str = (key: string) => values[key] as string | undefined;

    // Everything is checked before the database is opened.
    let input: Parameters<typeof createApiKey>[1] | undefined;
    if (name === "create") {
      if (str("name") === undefined) throw new UsageError("--name is required", name);
      const checked = checkKeyName(str("name")!);
      if ("problem" in checked) {
        throw new UsageError(`--name ${KEY_NAME_MESSAGES[checked.problem]}`, name);
      }
      let expires: string | null = null;
      if (str("expires") !== undefined) {
        try {
          expires = parseExpiry(str("expires")!, config.timeZone);
        } catch {
          throw new UsageError("--expires must be an ISO date such as 2026-12-31", name);
        }
      }
      input = { name: checked.name, expires_at: expires };
      for (const kind of LIMIT_KINDS) input[kind.field] = limitArg(str(kind.flag), kind.flag);
      for (const f of POLICY_FLAGS) {
        const value = str(f.flag);
        if (value === undefined) continue;
        if (f.field === "models") {
          const models = value.split(",").map((m) => m.trim()).filter(Boolean);
          if (models.length === 0) throw new UsageError("--models needs at least one model", name);
          input.models = models;
        } else {
          const n = limitArg(value, f.flag);
          if (n === 0) throw new UsageError(`--${f.flag} must be 1 or more`, name);
          input[f.field] = n;
        }
      }
    }
    const id = command.positionals === 1 ? idArg(positionals[0], name) : 0;
    const now0 = systemClock.now();
    const flagged = <T>(parse: () => T): T => {
      try {
        return parse();
      } catch (err) {
        if (err instanceof AnalyticsInputError) {
          throw new UsageError(flagMessage(err), name);
        }
        throw err;
      }
    };
    const filterNames = ["from", "to", "key-id", "model", "route"];
    const usageQuery = name === "usage"
      ? flagged(() =>
        parseUsageParams(
          analyticsParams(values, [...filterNames, "group-by"]),
          config.timeZone,
          now0,
        )
      )
      : null;
    const exported = name === "export"
      ? flagged(() => {
        if (str("dataset") === undefined) {
          throw new AnalyticsInputError("dataset", "is required (requests or usage)");
        }
        return parseExportParams(
          analyticsParams(values, [...filterNames, "group-by", "status", "dataset", "format"]),
          config.timeZone,
          now0,
        );
      })
      : null;

    store = await openStore(config.databaseUrl, { poolSize: 1 });
    const now = systemClock.now();
    switch (name) {
      case "create": {
        const key = await createApiKey(store, input!, now);
        const through = lastValidDay(key.expires_at, config.timeZone);
        console.log(
          `Created key ${key.id} "${printableName(key.name)}" (${key.prefix}…), ` +
            (through ? `valid through ${through} (${config.timeZone}).` : "no expiry."),
        );
        console.log("Store it now: it is shown only once.");
        console.log(key.key);
        if (key.expires_at !== null && Date.parse(key.expires_at) <= now.epochMilliseconds) {
          // Created all the same, as asked (a script may mean it); the admin UI asks first.
          console.error(
            `Warning: ${through} is in the past: the key is expired from the start and refuses ` +
              "every request. Give it another expiry in the admin UI (Keys, Edit), or delete it.",
          );
        }
        return 0;
      }
      case "list": {
        const keys = await listKeyViews(store, now, config.timeZone);
        if (values.json) console.log(keyJson(keys, config.timeZone));
        else if (keys.length === 0) {
          console.log("No keys yet. Create one: deno task key create --name NAME");
        } else console.log(keyTable(keys, config.timeZone));
        return 0;
      }
      case "audit": {
        const differences = await store.audit();
        const rollups = await store.auditRollups();
        if (differences.length === 0 && rollups.length === 0) {
          console.log("Counters and usage rollups agree with the request ledger.");
          return 0;
        }
        for (const d of differences) {
          console.log(
            `${d.scope} ${d.owner_id}\t${d.day}\t${d.field}\tcounter ${d.counter}\tledger ${d.ledger}`,
          );
        }
        for (const d of rollups) {
          console.log(`${d.table} ${d.at}\t${d.field}\trollup ${d.rollup}\tledger ${d.ledger}`);
        }
        console.log(
          `${
            differences.length + rollups.length
          } difference(s) between counters or rollups and the ledger.`,
        );
        return 1;
      }
      case "usage": {
        const rows = await store.usage(usageQuery!);
        if (values.json) console.log(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) console.log("No usage in that range.");
        else console.log(usageTable(rows));
        return 0;
      }
      case "export": {
        const e = exported!;
        const s = store;
        // Primed: a first slice over the row cap fails before anything is written.
        const body = await primed(
          e.dataset === "usage"
            ? usageExportStream(e.query, e.format, (q) => s.usage(q))
            : requestExportStream(e.query, e.format, config.timeZone, (q) => s.requestLog(q)),
        );
        const out = str("output");
        if (out === undefined) await body.pipeTo(Deno.stdout.writable, { preventClose: true });
        else {
          // The user's file, named on the command line (not a file of the app).
          const file = await Deno.create(out);
          await body.pipeTo(file.writable);
          console.error(`Wrote ${out}.`);
        }
        return 0;
      }
      default: {
        const key = await updateApiKey(store, id, { active: name === "activate" }, now);
        if (!key) {
          console.error(`No key with ID ${id}.`);
          return 1;
        }
        console.log(`Key ${key.id} "${printableName(key.name)}" ${name}d.`);
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      const usage = err.command ? COMMANDS[err.command].usage : USAGE;
      console.error(`Error: ${err.message}\n\n${usage}`);
      return 2;
    }
    if (err instanceof AnalyticsInputError) {
      // Found by the store (more usage rows than an answer may have): a wrong call all the same.
      console.error(`Error: ${flagMessage(err)}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    console.error(`Error: ${(err as Error).message}`);
    return 1;
  } finally {
    await store?.close();
  }
}

if (import.meta.main) {
  try {
    loadEnvFile();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    Deno.exit(1);
  }
  Deno.exit(await runCli(Deno.args, Deno.env.toObject()));
}
