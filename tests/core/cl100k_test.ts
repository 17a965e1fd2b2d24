/**
 * core/cl100k.ts against js-tiktoken's own encoder (the oracle, used only here): the same counts
 * for any ASCII text, from a fraction of the memory.
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { getEncoding } from "js-tiktoken";
import { countAsciiTokens } from "../../core/cl100k.ts";

const oracle = getEncoding("cl100k_base");
const expected = (text: string) => oracle.encode(text, [], []).length;

/** ASCII text weighted towards what prompts hold: letters, digits, spaces, newlines, code. */
const asciiText = fc.string({
  unit: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(..."etaoinshrdlucmfwypvbgkqjxz ETAOINSHRD") },
    {
      weight: 2,
      arbitrary: fc.constantFrom(..."0123456789 \n\t\r'.,;:(){}[]<>|!?-_=+*/\\\"#$%&@^`~"),
    },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)) },
  ),
  maxLength: 40,
});

Deno.test("cl100k counts of ASCII text equal js-tiktoken's encoder, special spellings as text", () => {
  for (
    const text of [
      "",
      "hello world",
      "Hello, World! How's it going? I'LL see 'em",
      "  function f(x) {\n\treturn x * 2;\n}\n\n",
      "1234567890 3.14159 0x1F",
      "<|endoftext|><|fim_prefix|><|fim_middle|><|fim_suffix|><|endofprompt|>",
      "aaaaaaaaaaaaaaaa",
      "\u0000\u0001\u007f",
      "https://example.com/a?b=c&d=e",
    ]
  ) {
    assert.equal(countAsciiTokens(text), expected(text), JSON.stringify(text));
  }
  fc.assert(
    fc.property(asciiText, (text) => countAsciiTokens(text) === expected(text)),
    { numRuns: 20_000, seed: 18 },
  );
});

Deno.test("the ASCII table holds under a third of the heap js-tiktoken's encoder holds", async () => {
  // Each in its own process, after full collections: what each keeps alive once loaded.
  const heldBy = async (program: string) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--v8-flags=--expose-gc", program],
      cwd: new URL("../../", import.meta.url).pathname,
      stdout: "piped",
    }).output();
    return Number(new TextDecoder().decode(out.stdout));
  };
  const measure = (load: string) =>
    `const gc = () => { for (let i = 0; i < 3; i++) globalThis.gc(); };
     ${load.split("\n")[0]}
     gc(); const before = Deno.memoryUsage().heapUsed;
     ${load.split("\n")[1]}
     gc(); console.log(Deno.memoryUsage().heapUsed - before);`;
  const ours = await heldBy(measure(
    `import { countAsciiTokens } from "./core/cl100k.ts";\nglobalThis.keep = countAsciiTokens("hi");`,
  ));
  const theirs = await heldBy(measure(
    `import { getEncoding } from "js-tiktoken";\nglobalThis.keep = getEncoding("cl100k_base"); keep.encode("hi");`,
  ));
  assert.ok(ours > 0 && theirs > 0, `${ours} / ${theirs}`);
  assert.ok(ours < theirs / 3, `ours ${ours} bytes, js-tiktoken ${theirs}`);
});
