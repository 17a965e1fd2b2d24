/**
 * The key CLI: `deno task key create|list|deactivate|activate`, on the server's DATABASE_URL.
 * @module
 */
import { parseArgs } from "node:util";
import { systemClock } from "../core/clock.ts";
import { ConfigError, parseConfig } from "../core/config.ts";
import { createApiKey, listKeyViews, parseExpiry, updateApiKey } from "../core/api_keys.ts";
import { openStore } from "../db/mod.ts";
import type { Store } from "../core/store.ts";

const USAGE = `Usage:
  deno task key create --name NAME [--daily-requests N] [--monthly-requests N]
                       [--daily-tokens N] [--monthly-tokens N] [--expires ISO-DATE]
  deno task key list
  deno task key deactivate ID
  deno task key activate ID
  deno task key audit        recompute every counter from the request ledger`;

class UsageError extends Error {}

function limitArg(value: string | undefined, flag: string): number | null {
  if (value === undefined) return null;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${flag} must be a whole number ≥ 0`);
  return Number(value);
}

function idArg(value: string | undefined): number {
  if (!value || !/^\d+$/.test(value)) throw new UsageError("an ID (a whole number) is required");
  return Number(value);
}

const show = (n: number | null) => n === null ? "unlimited" : String(n);

/** Runs one CLI command; returns the exit code. */
export async function runCli(args: string[], env: Record<string, string>): Promise<number> {
  let store: Store | null = null;
  try {
    const config = parseConfig(env, { requireAdminPassword: false });
    const [command, ...rest] = args;
    if (!["create", "list", "deactivate", "activate", "audit"].includes(command)) {
      throw new UsageError(command ? `unknown command '${command}'` : "a command is required");
    }
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        name: { type: "string" },
        "daily-requests": { type: "string" },
        "monthly-requests": { type: "string" },
        "daily-tokens": { type: "string" },
        "monthly-tokens": { type: "string" },
        expires: { type: "string" },
      },
    });
    store = await openStore(config.databaseUrl, { poolSize: 1 });
    const now = systemClock.now();
    switch (command) {
      case "create": {
        const name = values.name?.trim();
        if (!name) throw new UsageError("--name is required");
        let expires: string | null = null;
        if (values.expires) {
          try {
            expires = parseExpiry(values.expires, config.timeZone);
          } catch {
            throw new UsageError("--expires must be an ISO date such as 2026-12-31");
          }
        }
        const key = await createApiKey(store, {
          name,
          expires_at: expires,
          daily_request_limit: limitArg(values["daily-requests"], "daily-requests"),
          monthly_request_limit: limitArg(values["monthly-requests"], "monthly-requests"),
          daily_token_limit: limitArg(values["daily-tokens"], "daily-tokens"),
          monthly_token_limit: limitArg(values["monthly-tokens"], "monthly-tokens"),
        }, now);
        console.log(`Created key ${key.id} "${key.name}" (${key.prefix}…).`);
        console.log("Store it now: it is shown only once.");
        console.log(key.key);
        return 0;
      }
      case "list": {
        const keys = await listKeyViews(store, now, config.timeZone);
        if (keys.length === 0) console.log("No keys yet.");
        for (const k of keys) {
          console.log(
            [
              k.id,
              k.name,
              k.prefix,
              k.status,
              `today ${k.usage.today.requests}/${show(k.daily_request_limit)} req ` +
              `${k.usage.today.tokens}/${show(k.daily_token_limit)} tok`,
              `month ${k.usage.month.requests}/${show(k.monthly_request_limit)} req ` +
              `${k.usage.month.tokens}/${show(k.monthly_token_limit)} tok`,
              `expires ${k.expires_at ?? "never"}`,
            ].join("\t"),
          );
        }
        return 0;
      }
      case "audit": {
        const differences = await store.audit();
        if (differences.length === 0) {
          console.log("Counters agree with the request ledger.");
          return 0;
        }
        for (const d of differences) {
          console.log(
            `${d.scope} ${d.owner_id}\t${d.day}\t${d.field}\tcounter ${d.counter}\tledger ${d.ledger}`,
          );
        }
        console.log(`${differences.length} difference(s) between counters and the ledger.`);
        return 1;
      }
      default: {
        const id = idArg(positionals[0]);
        const key = await updateApiKey(store, id, { active: command === "activate" }, now);
        if (!key) {
          console.error(`No key with ID ${id}.`);
          return 1;
        }
        console.log(`Key ${key.id} "${key.name}" ${command}d.`);
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`Error: ${err.message}\n\n${USAGE}`);
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
  Deno.exit(await runCli(Deno.args, Deno.env.toObject()));
}
