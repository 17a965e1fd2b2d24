import assert from "node:assert/strict";
import { OPEN_POLICY } from "../../core/model.ts";
import { openStore } from "../../db/mod.ts";
import { DatabaseSync } from "node:sqlite";
import { MAX_USAGE_ROWS } from "../../core/analytics/usage.ts";

const cli = new URL("../../admin/cli.ts", import.meta.url).pathname;

async function run(args: string[], databaseUrl: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-sys",
      cli,
      ...args,
    ],
    env: { DATABASE_URL: databaseUrl, NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("key CLI creates, lists, deactivates and activates keys on DATABASE_URL", async () => {
  const dir = await Deno.makeTempDir();
  const url = `sqlite:///${dir}/nested/cli.db`;
  try {
    const created = await run(
      [
        "create",
        "--name",
        "CI bot",
        "--daily-requests",
        "5",
        "--monthly-tokens",
        "1000",
        "--expires",
        "2030-01-31",
      ],
      url,
    );
    assert.equal(created.code, 0, created.stderr);
    const lines = created.stdout.trim().split("\n");
    const key = lines.at(-1)!;
    assert.match(key, /^sk-[A-Za-z0-9_-]{43,}$/);

    const listed = await run(["list"], url);
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, /CI bot/);
    assert.match(listed.stdout, /active/);
    assert.match(listed.stdout, /\b0\/5\b/);
    assert.ok(!listed.stdout.includes(key), "the plaintext key is never listed");

    const off = await run(["deactivate", "1"], url);
    assert.equal(off.code, 0);
    assert.match((await run(["list"], url)).stdout, /deactivated/);
    assert.equal((await run(["activate", "1"], url)).code, 0);
    assert.doesNotMatch((await run(["list"], url)).stdout, /deactivated/);
    assert.equal((await run(["deactivate", "99"], url)).code, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("key CLI explains its usage on a wrong call", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const res = await run(["create"], `sqlite:///${dir}/cli.db`);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /--name is required/);
    assert.match(res.stderr, /Usage:/);
    const bad = await run(
      ["create", "--name", "x", "--daily-requests", "many"],
      `sqlite:///${dir}/cli.db`,
    );
    assert.match(bad.stderr, /--daily-requests must be a whole number/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A temporary directory for one test's database, removed afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "llm-quota-cli-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("--help, -h and help print the usage and exit 0, touching no database", async () => {
  await inTempDir(async (dir) => {
    const url = `sqlite:///${dir}/never.db`;
    for (const args of [["--help"], ["-h"], ["help"]]) {
      const res = await run(args, url);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^Usage: deno task key <command> \[options\]/, args.join(" "));
      for (const command of ["create", "list", "deactivate", "activate", "audit", "help"]) {
        assert.match(res.stdout, new RegExp(`^  ${command} `, "m"), command);
      }
      assert.equal(res.stderr, "");
    }
    for (const args of [["create", "--help"], ["create", "-h"], ["help", "create"]]) {
      const res = await run(args, url);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^Usage: deno task key create --name NAME/, args.join(" "));
      assert.match(res.stdout, /--daily-tokens N/);
    }
    for (const command of ["list", "deactivate", "activate", "audit"]) {
      const res = await run([command, "--help"], url);
      assert.equal(res.code, 0, `${command}: ${res.stderr}`);
      assert.match(res.stdout, new RegExp(`^Usage: deno task key ${command}`), command);
    }
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no database was opened");
  });
});

Deno.test("a misspelled option or command says what is wrong, then the usage; exit 2", async () => {
  await inTempDir(async (dir) => {
    const url = `sqlite:///${dir}/cli.db`;
    const typo = await run(["create", "--name", "x", "--dialy-tokens", "5"], url);
    assert.equal(typo.code, 2);
    assert.match(
      typo.stderr,
      /^Error: unknown option '--dialy-tokens' for 'create' \(did you mean --daily-tokens\?\)\n\nUsage: deno task key create/,
    );
    const cases: Array<[string[], RegExp]> = [
      [
        ["list", "--jsn"],
        /^Error: unknown option '--jsn' for 'list' \(did you mean --json\?\)\n\nUsage: deno task key list/,
      ],
      [["list", "--json=yes"], /^Error: --json takes no value\n\nUsage: deno task key list/],
      [["create", "--name"], /^Error: --name needs a value/],
      [["create", "--name", "--daily-tokens", "5"], /^Error: --name needs a value/],
      [["list", "extra"], /^Error: unexpected argument 'extra'\n\nUsage: deno task key list/],
      [
        ["deactivate"],
        /^Error: an ID \(a whole number\) is required\n\nUsage: deno task key deactivate/,
      ],
      [["frobnicate"], /^Error: unknown command 'frobnicate'\n\nUsage: deno task key <command>/],
      [["help", "frobnicate"], /^Error: unknown command 'frobnicate'/],
      [[], /^Error: a command is required\n\nUsage: deno task key <command>/],
    ];
    for (const [args, expected] of cases) {
      const res = await run(args, url);
      assert.equal(res.code, 2, args.join(" "));
      assert.match(res.stderr, expected, args.join(" "));
      assert.doesNotMatch(
        res.stderr,
        /To specify a positional argument|ERR_PARSE_ARGS/,
        "no Node wording",
      );
    }
  });
});

Deno.test("create with a past expiry makes the key but warns that it is expired from the start", async () => {
  await inTempDir(async (dir) => {
    const url = `sqlite:///${dir}/cli.db`;
    const past = await run(["create", "--name", "Old", "--expires", "2020-01-01"], url);
    assert.equal(past.code, 0, past.stderr);
    assert.match(past.stdout, /\nsk-\S+\n$/, "the key is still the last line of stdout");
    assert.match(
      past.stderr,
      /^Warning: 2020-01-01 is in the past: the key is expired from the start/m,
    );
    const future = await run(["create", "--name", "New", "--expires", "2999-12-31"], url);
    assert.equal(future.code, 0, future.stderr);
    assert.doesNotMatch(future.stderr, /Warning/);
  });
});

Deno.test("list prints a header and aligned columns, expiry as the last valid day in APP_TZ", async () => {
  await inTempDir(async (dir) => {
    const url = `sqlite:///${dir}/cli.db`;
    const berlin = { APP_TZ: "Europe/Berlin" };
    const created = await run(
      ["create", "--name", "Alice", "--daily-requests", "100", "--expires", "2026-12-31"],
      url,
      berlin,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /valid through 2026-12-31 \(Europe\/Berlin\)/);
    assert.equal((await run(["create", "--name", "日本語のキー 🔑"], url)).code, 0);
    assert.equal((await run(["create", "--name", "n".repeat(200)], url)).code, 0);

    const listed = await run(["list"], url, berlin);
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.split("\n");
    assert.match(
      lines[0],
      /^ID +NAME +PREFIX +STATUS +REQUESTS TODAY +TOKENS TODAY +REQUESTS MONTH +TOKENS MONTH +VALID THROUGH$/,
    );
    const rows = lines.slice(1, 4);
    assert.match(
      rows[0],
      /^1 +Alice +sk-\S+ +active +0\/100 +0\/unlimited +0\/unlimited +0\/unlimited +2026-12-31$/,
    );
    assert.doesNotMatch(listed.stdout, /T23:00:00/, "no UTC instant");
    assert.match(rows[1], / no expiry$/);
    // Every row's prefix starts in the header's PREFIX column (the wide characters counted twice).
    const column = lines[0].indexOf("PREFIX");
    const cells = (row: string) =>
      [...row].reduce((w, ch) => w + (/[\u3000-\u9fff\u{1f300}-\u{1f64f}]/u.test(ch) ? 2 : 1), 0);
    for (const row of rows) assert.equal(cells(row.slice(0, row.indexOf("sk-"))), column, row);
    assert.match(rows[2], /n{39}… /, "a long name is cut in the table");
    assert.match(listed.stdout, /APP_TZ Europe\/Berlin/);

    // The same expiry, read in a time zone 14 hours ahead, ends on the next local day.
    const kiritimati = await run(["list"], url, { APP_TZ: "Pacific/Kiritimati" });
    assert.match(kiritimati.stdout.split("\n")[1], / 2027-01-01$/);
  });
});

Deno.test("list --json gives every key in full, with its expiry as instant and local day", async () => {
  await inTempDir(async (dir) => {
    const url = `sqlite:///${dir}/cli.db`;
    await run(["create", "--name", "n".repeat(200), "--expires", "2026-12-31"], url);
    const res = await run(["list", "--json"], url, { APP_TZ: "Europe/Berlin" });
    assert.equal(res.code, 0, res.stderr);
    const [key] = JSON.parse(res.stdout);
    assert.equal(key.name, "n".repeat(200));
    assert.equal(key.expires_at, "2026-12-31T23:00:00.000Z");
    assert.equal(key.valid_through, "2026-12-31");
    assert.equal(key.status, "active");
    assert.deepEqual(key.usage.today, {
      requests: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      tokens: 0,
    });
    assert.equal(key.key_hash, undefined);
    assert.deepEqual(
      JSON.parse((await run(["list", "--json"], `sqlite:///${dir}/empty.db`)).stdout),
      [],
    );
  });
});

Deno.test("names with control characters are refused; ones stored before are printed escaped", async () => {
  await inTempDir(async (dir) => {
    const url = `sqlite:///${dir}/cli.db`;
    for (
      const name of [
        "a\tb",
        "line\nbreak",
        "\u001b[31mred",
        "bell\u0007",
        "rtl\u202eevil",
        "c1\u0085",
      ]
    ) {
      const res = await run(["create", "--name", name], url);
      assert.equal(res.code, 2, JSON.stringify(name));
      assert.match(res.stderr, /^Error: --name must not contain control characters/);
    }
    const long = await run(["create", "--name", "n".repeat(201)], url);
    assert.equal(long.code, 2);
    assert.match(long.stderr, /^Error: --name must be at most 200 characters/);
    // A name stored before the rule existed, straight into the database.
    const store = await openStore(url);
    try {
      await store.createKey({
        name: "evil\u001b]0;pwned\u0007\r\nfake row",
        prefix: "sk-oldoldol",
        key_hash: "0".repeat(64),
        created_at: "2026-01-01T00:00:00.000Z",
        expires_at: null,
        policy: OPEN_POLICY,
      });
    } finally {
      await store.close();
    }
    const listed = await run(["list"], url);
    assert.doesNotMatch(listed.stdout, /[^\P{Cc}\n]/u, "no raw control character");
    assert.match(listed.stdout, /evil\\u\{1b\}\]0;pwned\\u\{7\}\\u\{d\}\\u\{a\}fake r/);
    assert.equal(listed.stdout.trim().split("\n").length, 4, "header, one row, blank, footer");
  });
});

Deno.test("key CLI create takes every policy field as a flag", async () => {
  const dir = await Deno.makeTempDir();
  const url = `sqlite:///${dir}/cli.db`;
  try {
    const created = await run([
      "create",
      "--name",
      "batch",
      "--requests-per-minute",
      "30",
      "--tokens-per-minute",
      "5000",
      "--max-concurrent",
      "2",
      "--models",
      "llama3, qwen3:*",
      "--max-output-tokens",
      "256",
      "--max-num-ctx",
      "8192",
      "--idle-days",
      "30",
    ], url);
    assert.equal(created.code, 0, created.stderr);
    const help = await run(["create", "--help"], url);
    assert.match(help.stdout, /--requests-per-minute N\s+requests per minute/);
    assert.match(help.stdout, /--max-concurrent N\s+requests at a time/);
    const bad = await run(["create", "--name", "x", "--models", " , "], url);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--models needs at least one model/);
    const store = await openStore(url);
    try {
      const [key] = await store.listKeys();
      assert.deepEqual(key.policy, {
        limits: [
          { metric: "requests", window: "minute", max: 30 },
          { metric: "tokens", window: "minute", max: 5000 },
          { metric: "concurrent", window: "none", max: 2 },
        ],
        models: ["llama3", "qwen3:*"],
        max_output_tokens: 256,
        max_num_ctx: 8192,
        idle_days: 30,
      });
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("key CLI usage and export read the rollups and the request log; bad filters exit 2", async () => {
  const dir = await Deno.makeTempDir();
  const url = `sqlite:///${dir}/cli.db`;
  try {
    const store = await openStore(url);
    const key = await store.createKey({
      name: "reports",
      prefix: "lq_r",
      key_hash: "hash-reports",
      created_at: "2026-01-01T00:00:00.000Z",
      expires_at: null,
      policy: OPEN_POLICY,
    });
    // Recent enough for the default range (the last 7 days): the CLI runs on the wall clock.
    const now = Temporal.Now.instant().round({ smallestUnit: "minute", roundingMode: "floor" });
    const windows = (await import("../../core/windows.ts")).requestWindows(now, "Europe/Berlin");
    // As admission records them: canonical (`llama3:latest`), or text no client spelling becomes.
    for (const model of ["llama3:latest", "@qwen3"]) {
      const a = await store.admit(
        {
          keyId: key.id,
          memberId: null,
          windows,
          route: "/api/chat",
          model,
          startedAt: now.toString(),
          instanceId: "cli-test",
        },
        { promptTokens: 5, generates: true, clientMaxTokens: null, maxReservedTokens: 10 },
        now.epochMilliseconds,
      );
      assert.equal(a.kind, "admitted");
      await store.settle({
        requestId: (a as { requestId: number }).requestId,
        charge: {
          charged: true,
          promptTokens: 5,
          completionTokens: 3,
          estimated: false,
          status: 200,
        },
        durationMs: 20,
      });
    }
    await store.close();

    const usage = await run(["usage", "--group-by", "model", "--json"], url);
    assert.equal(usage.code, 0, usage.stderr);
    const rows = JSON.parse(usage.stdout);
    assert.deepEqual(rows.map((r: { model: string; requests: number }) => [r.model, r.requests]), [
      ["@qwen3", 1],
      ["llama3:latest", 1],
    ]);
    const table = await run(["usage", "--group-by", "model"], url);
    assert.match(table.stdout, /^model\s+requests\s+ok\s+refused/);
    // A filter by any spelling of a model finds its canonically recorded rows.
    for (const model of ["llama3", "LLaMA3:latest"]) {
      const one = await run(["usage", "--group-by", "model", "--model", model, "--json"], url);
      assert.equal(one.code, 0, one.stderr);
      assert.deepEqual(
        JSON.parse(one.stdout).map((r: { model: string }) => r.model),
        ["llama3:latest"],
        model,
      );
      const rows = await run(["export", "--dataset", "requests", "--model", model], url);
      assert.equal(rows.code, 0, rows.stderr);
      assert.equal(rows.stdout.trimEnd().split("\r\n").length, 2, model);
    }

    const csv = await run(["export", "--dataset", "requests"], url);
    assert.equal(csv.code, 0, csv.stderr);
    const lines = csv.stdout.trimEnd().split("\r\n");
    assert.equal(lines.length, 3);
    assert.ok(
      lines.some((l) => l.includes(`,"'@qwen3",`)),
      "a formula-like cell is escaped and quoted",
    );
    const file = `${dir}/usage.ndjson`;
    const nd = await run(
      ["export", "--dataset", "usage", "--format", "ndjson", "--output", file],
      url,
    );
    assert.equal(nd.code, 0, nd.stderr);
    assert.equal(JSON.parse(Deno.readTextFileSync(file).trim()).requests, 2);

    const audit = await run(["audit"], url);
    assert.equal(audit.code, 0, audit.stdout);
    assert.match(audit.stdout, /usage rollups agree/);

    const monthAgo = now.toZonedDateTimeISO("Europe/Berlin").subtract({ days: 30 }).toPlainDate()
      .toString();
    for (
      const [args, flag] of [
        [["usage", "--from", "soon"], "--from"],
        [["usage", "--group-by", "week"], "--group-by"],
        [["export"], "--dataset"],
        [["export", "--dataset", "usage", "--status", "ok"], "--status"],
        // Clients that do not play fair: each a message and exit 2, no stack trace, no work.
        [["usage", "--from", "99999-01-01"], "--from"],
        [["export", "--dataset", "requests", "--to", "9999-01-01"], "--to"],
        [["usage", "--model", "\u001b[2J"], "--model"],
        [["export", "--dataset", "requests", "--route", "a\u009bb"], "--route"],
        [["usage", "--from", "2020-01-01"], "--from"],
        [
          ["export", "--dataset", "usage", "--group-by", "15m", "--from", monthAgo],
          "--group-by",
        ],
      ] as const
    ) {
      const bad = await run([...args], url);
      assert.equal(bad.code, 2, args.join(" "));
      assert.match(bad.stderr, new RegExp(`^Error: ${flag}: `), args.join(" "));
    }

    // More usage rows than an answer may have (a model each, straight into the rollup): the
    // store refuses them, and the CLI says so with exit 2 rather than printing a cut table.
    const bucket = Math.floor(now.epochMilliseconds / 900_000) * 900_000;
    const db = new DatabaseSync(`${dir}/cli.db`);
    db.prepare(
      `INSERT INTO usage_15m_all (bucket, model, route, requests)
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         SELECT ?, 'm' || i, '/api/chat', 1 FROM n`,
    ).run(MAX_USAGE_ROWS + 1, bucket);
    db.close();
    for (
      const args of [["usage", "--group-by", "model"], [
        "export",
        "--dataset",
        "usage",
        "--group-by",
        "model",
      ]]
    ) {
      const big = await run(args, url);
      assert.equal(big.code, 2, args.join(" "));
      assert.match(
        big.stderr,
        /^Error: --group-by: more than 20000 rows: narrow the range or group_by/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
