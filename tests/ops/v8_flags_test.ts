/**
 * The gateway's V8 flags are decided once, in `deno task start`: every other way of starting it
 * (dev, the compiled binary, the image, the benchmarks) must run with the same ones.
 * @module
 */
import assert from "node:assert/strict";
import { denoTasks, startV8Flags, v8FlagsIn } from "../../tools/start_flags.ts";
import { parseDockerfile } from "./dockerfile.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const words = (command: string) => command.trim().split(/\s+/);

/** The arguments of the command in a task that runs main.ts (dev runs a port check first). */
function mainCommand(task: string): string[] {
  const command = task.split("&&").find((part) => words(part).at(-1) === "main.ts");
  assert.ok(command, `no command runs main.ts in: ${task}`);
  return words(command);
}

Deno.test("deno task start caps the young generation and slows old-generation growth", async () => {
  assert.equal(
    await startV8Flags(),
    "--max-semi-space-size=8,--heap-growing-percent=10,--initial-old-space-size=64",
  );
});

Deno.test("dev, compile and the image's CMD start main.ts with the start task's V8 flags", async () => {
  const tasks = await denoTasks();
  const start = v8FlagsIn(mainCommand(tasks.start));
  assert.deepEqual(v8FlagsIn(mainCommand(tasks.dev)), start, "deno task dev");
  assert.deepEqual(v8FlagsIn(mainCommand(tasks.compile)), start, "deno task compile");
  const stages = parseDockerfile(await Deno.readTextFile(`${ROOT}Dockerfile`));
  const cmd = stages.at(-1)!.instructions.filter((i) => i.keyword === "CMD").at(-1)!;
  assert.deepEqual(v8FlagsIn(JSON.parse(cmd.args)), start, "the image's CMD");
});

Deno.test("the start task's V8 flags are ones this Deno's V8 accepts", async () => {
  const flags = await startV8Flags();
  assert.ok(flags);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `--v8-flags=${flags}`, "0"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success && stderr === "", stderr);
});

Deno.test("--max-semi-space-size=8 shrinks the young generation V8 grows to under allocation", async () => {
  const newSpace = async (flags: string[]) => {
    const program = `import v8 from "node:v8";
      let keep = [];
      for (let r = 0; r < 60; r++) {
        for (let i = 0; i < 100000; i++) keep.push({ i, s: "x" + i });
        if (keep.length > 300000) keep = [];
      }
      console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size);`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", ...flags, program],
      stdout: "piped",
    }).output();
    return Number(new TextDecoder().decode(out.stdout));
  };
  const capped = await newSpace([`--v8-flags=${await startV8Flags()}`]);
  const uncapped = await newSpace([]);
  // Two 8 MiB semi-spaces, plus the pages V8 adds on top (seen: 16.5 MiB); the default grows
  // to 64 MiB on these machines.
  assert.ok(capped <= 20 * 2 ** 20, `new space ${capped} bytes with the flag`);
  assert.ok(uncapped > capped, `new space ${uncapped} bytes by default`);
});

Deno.test("--heap-growing-percent=10 keeps the heap near the live set under churn of long-lived objects", async () => {
  // A ring of objects that outlive scavenges, replaced forty times: the old generation's garbage
  // is what 1,000 open streams leave behind. V8's default growth lets the heap run to twice what
  // the start flags let it reach (measured 163 vs 74 MB).
  const peakHeap = async (flags: string) => {
    const program = `import v8 from "node:v8";
      const ring = new Array(200000);
      let peak = 0;
      for (let r = 0; r < 40; r++) {
        for (let i = 0; i < 200000; i++) ring[i] = { i, s: "x" + i + r, a: [i, r] };
        peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
      }
      console.log(peak);`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", `--v8-flags=${flags}`, program],
      stdout: "piped",
    }).output();
    return Number(new TextDecoder().decode(out.stdout));
  };
  const start = await startV8Flags();
  assert.ok(start);
  const withStart = await peakHeap(start);
  const semiSpaceOnly = await peakHeap("--max-semi-space-size=8");
  assert.ok(
    withStart > 0 && withStart < 0.75 * semiSpaceOnly,
    `${withStart} vs ${semiSpaceOnly} bytes`,
  );
});

Deno.test("--initial-old-space-size=64 spares a small heap a full collection every 10 % of growth", async () => {
  // A small live set and objects that are promoted, then die: a gateway at one connection. With
  // only the 10 % growth, V8 runs a mark-compact (~8-10 ms, the one-connection p99) every few
  // MB promoted; with the initial size it waits until the old generation reaches 64 MB.
  const program = `const live = Array.from({ length: 100000 }, (_, i) => ({ i, s: "live" + i }));
    const ring = new Array(20000);
    for (let r = 0; r < 150; r++) {
      for (let i = 0; i < 20000; i++) ring[i] = { i, s: "x" + i + r, a: [i, r] };
      const hold = ring.slice();
      await new Promise((resolve) => setTimeout(resolve, 0));
      hold.length = 0;
    }
    console.log(live.length);`;
  const markCompacts = async (flags: string) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", `--v8-flags=--trace-gc,${flags}`, program],
      stdout: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).match(/Mark-Compact/g)?.length ?? 0;
  };
  const start = await startV8Flags() ?? "";
  assert.ok(start.includes("--initial-old-space-size="), start);
  const without = start.split(",").filter((f) => !f.startsWith("--initial-old-space-size="));
  const withInitial = await markCompacts(start);
  const growthOnly = await markCompacts(without.join(","));
  assert.ok(growthOnly >= 4, `${growthOnly} mark-compacts without the initial size`);
  assert.ok(withInitial * 2 <= growthOnly, `${withInitial} vs ${growthOnly} mark-compacts`);
});
