/**
 * `deno task compile` cannot run here (deno compile downloads its runtime once), so what the
 * binary needs is checked statically: its task, its module graph, and the one function through
 * which the app reads its static files.
 * @module
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { staticAsset } from "../../views/static_assets.ts";
import { gatewayTest } from "../support/gateway.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const tasks = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks as Record<
  string,
  string
>;
/** Folders of files that are served or rendered, not only imported for their code. */
const ASSET_FOLDERS = ["static", "views"];
/**
 * Modules that start a Worker from a file next to them (`new URL(file, import.meta.url)`), which
 * is not in the module graph: the binary has it only when the compile task lists it.
 */
const WORKER_STARTERS: Record<string, string> = {
  "db/sqlite_checkpointer.ts": "db/sqlite_checkpoint_worker.ts",
};
/** App code: everything the binary is built from. */
const APP_FOLDERS = ["core", "db", "ops", "proxy", "admin", "views"];

function words(task: string): string[] {
  return task.trim().split(/\s+/);
}

/** Values of a repeatable flag (`--include a --include=b`). */
function flagValues(args: string[], flag: string): string[] {
  return args.flatMap((a, i) =>
    a === flag ? [args[i + 1]] : a.startsWith(flag + "=") ? [a.slice(flag.length + 1)] : []
  );
}

async function filesUnder(folder: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, folder))) {
    const path = join(folder, entry.name);
    if (entry.isDirectory) found.push(...await filesUnder(path));
    else found.push(path);
  }
  return found;
}

/** Local files in the module graph of main.ts (code and text imports alike). */
async function moduleGraph(): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  return new Set(
    (info.modules as Array<{ specifier: string }>)
      .filter((m) => m.specifier.startsWith("file://"))
      .map((m) => relative(ROOT, new URL(m.specifier).pathname)),
  );
}

Deno.test("deno task compile builds main.ts into one binary with the start task's permissions", () => {
  const compile = words(tasks.compile);
  assert.deepEqual(compile.slice(0, 2), ["deno", "compile"]);
  assert.equal(compile.at(-1), "main.ts");
  assert.ok(compile.includes("--frozen"), "built from the lock file");
  assert.equal(flagValues(compile, "--output")[0], "dist/llm-quota");
  const permissions = (args: string[]) => args.filter((a) => a.startsWith("--allow-")).sort();
  assert.deepEqual(permissions(compile), permissions(words(tasks.start)));
});

Deno.test("every file the binary serves or renders is in its module graph or listed with --include", async () => {
  const graph = await moduleGraph();
  const included = flagValues(words(tasks.compile), "--include").map((p) => p.replace(/\/$/, ""));
  assert.ok(included.includes("static"), "static/ is listed explicitly");
  for (const folder of ASSET_FOLDERS) {
    for (const file of await filesUnder(folder)) {
      const listed = included.some((p) => file === p || file.startsWith(p + "/"));
      assert.ok(graph.has(file) || listed, `${file} would be missing from the binary`);
    }
  }
  for (const file of await filesUnder("static")) {
    assert.ok(graph.has(file), `${file} is not imported by views/static_assets.ts`);
  }
});

Deno.test("every Worker module is listed with --include, so deno compile embeds it", async () => {
  const included = flagValues(words(tasks.compile), "--include");
  for (const [starter, worker] of Object.entries(WORKER_STARTERS)) {
    const text = await Deno.readTextFile(join(ROOT, starter));
    const name = worker.slice(worker.lastIndexOf("/") + 1);
    assert.match(text, new RegExp(`new Worker\\(new URL\\("\\./${name.replace(".", "\\.")}"`));
    assert.ok(included.includes(worker), `${worker} is not listed with --include`);
  }
});

Deno.test("the app reads no file at run time: static files come only through views/static_assets.ts", async () => {
  // A path read from disk would work under `deno run` and break in the binary.
  const reads =
    /Deno\.(readFile|readTextFile|readFileSync|readTextFileSync|open|openSync|readDir)\b|readFileSync|readdirSync|createReadStream|import\.meta\.(dirname|filename|url)/;
  const sources = ["main.ts", ...(await Promise.all(APP_FOLDERS.map(filesUnder))).flat()]
    .filter((f) => /\.(ts|tsx)$/.test(f));
  // Files of the system, not of the app, are where they are for the binary too.
  const systemReads: Record<string, RegExp> = {
    "ops/connection_limits.ts": /Deno\.readTextFileSync\("\/proc\/self\/limits"\)/g,
  };
  // Reads the user's file named by LLMQ_ENV_FILE (only the deno tasks set it, never the binary):
  // a path of the machine, like the SQLite file, not a file of the app.
  const readsUserFiles = new Set(["ops/env_file.ts"]);
  for (const file of sources) {
    if (readsUserFiles.has(file)) continue;
    const text = (await Deno.readTextFile(join(ROOT, file)))
      .replace(systemReads[file] ?? /^$/, "")
      // A Worker's module URL (checked against --include above), not a file read.
      .replace(WORKER_STARTERS[file] ? /new URL\("\.\/[\w.]+", import\.meta\.url\)/g : /^$/, "");
    assert.doesNotMatch(text, reads, `${file} reads a file at run time`);
    if (file !== "views/static_assets.ts") {
      assert.doesNotMatch(text, /from\s+["'][./]*static\//, `${file} imports from static/`);
    }
  }
});

Deno.test("staticAsset() returns every static file exactly as it is on disk", async () => {
  for (const file of await filesUnder("static")) {
    const name = file.slice("static/".length);
    assert.equal(staticAsset(name)?.body, await Deno.readTextFile(join(ROOT, file)), name);
  }
  assert.match(staticAsset("htmx.min.js")?.body ?? "", /htmx/);
});

gatewayTest("the admin listener serves each static file byte for byte", async (t) => {
  for (const file of [...await filesUnder("static"), "static/htmx.min.js"]) {
    const name = file.slice("static/".length);
    const res = await fetch(`${t.gateway.adminUrl}/static/${name}`);
    assert.equal(res.status, 200, name);
    assert.equal(await res.text(), staticAsset(name)!.body, name);
  }
});
