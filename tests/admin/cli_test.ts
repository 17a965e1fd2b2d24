import assert from "node:assert/strict";

const cli = new URL("../../admin/cli.ts", import.meta.url).pathname;

async function run(args: string[], databaseUrl: string) {
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
    env: { DATABASE_URL: databaseUrl, NO_COLOR: "1" },
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
    assert.match(listed.stdout, /0\/5 req/);
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
