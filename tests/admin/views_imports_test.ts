import assert from "node:assert/strict";

const VIEWS = new URL("../../views/", import.meta.url);
const ROOT = new URL("../../", import.meta.url).pathname;

/** Every module under views/, as paths relative to it. */
async function viewModules(dir = VIEWS, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      out.push(...await viewModules(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`));
    } else if (/\.tsx?$/.test(entry.name)) out.push(prefix + entry.name);
  }
  return out;
}

Deno.test("views render what they are given: no view imports a listener (admin/, proxy/)", async () => {
  const modules = await viewModules();
  assert.ok(modules.includes("charts/stacked_chart.tsx") && modules.includes("usage_page.tsx"));
  for (const path of modules) {
    const text = await Deno.readTextFile(new URL(path, VIEWS));
    for (const m of text.matchAll(/from\s+"([^"]+)"/g)) {
      const target = new URL(m[1], new URL(path, VIEWS)).pathname;
      assert.ok(
        !/^(admin|proxy)\//.test(target.slice(ROOT.length)),
        `views/${path} imports ${m[1]}`,
      );
    }
  }
});
