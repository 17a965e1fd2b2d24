import assert from "node:assert/strict";
import { DEFAULT_ALLOWANCE, promptBound, promptParts } from "../../core/prompt.ts";

Deno.test("message texts are collected as they are, one piece each, bytes plus a separator", () => {
  const parts = promptParts({
    model: "m",
    system: "be brief",
    messages: [{ role: "user", content: "héllo" }, { role: "assistant", content: "hi" }],
  });
  // RENDERED order: system first, then each message's fields in their own order.
  assert.equal(parts.text, "be brief\nuser\nhéllo\nassistant\nhi");
  assert.equal(parts.textBound, (8 + 1) + (4 + 1) + (6 + 1) + (9 + 1) + (2 + 1));
  assert.equal(parts.messages, 2);
  assert.equal(parts.images, 0);
  assert.equal(parts.hasTools, false);
});

Deno.test("numbers and booleans inside messages count as their text", () => {
  const parts = promptParts({ messages: [{ role: "user", content: "x", n: 12345, b: true }] });
  assert.equal(parts.text, "user\nx\n12345\ntrue");
});

Deno.test("image parts and images arrays count as images, not as text", () => {
  const parts = promptParts({
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "what is this" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
          { type: "input_image", image_url: "data:..." },
        ],
      },
      { role: "user", content: "and these", images: ["AAAA", "BBBB"] },
    ],
  });
  assert.equal(parts.images, 4);
  assert.ok(!parts.text.includes("data:"), "no image data is counted as text");
  assert.equal(
    promptBound(parts),
    parts.textBound + DEFAULT_ALLOWANCE.base + 2 * DEFAULT_ALLOWANCE.perMessage +
      4 * DEFAULT_ALLOWANCE.imageTokens,
  );
});

Deno.test("tool definitions and tool calls are counted as Go's JSON, escapes included", () => {
  const tools = [{ type: "function", function: { name: "f", description: "a<b" } }];
  const parts = promptParts({
    tools,
    messages: [{
      role: "assistant",
      content: "",
      tool_calls: [{ function: { name: "f", arguments: { x: "&" } } }],
    }],
  });
  assert.equal(parts.hasTools, true);
  const toolsJson = JSON.stringify(tools);
  const callsJson = JSON.stringify([{ function: { name: "f", arguments: { x: "&" } } }]);
  assert.ok(parts.text.includes(toolsJson) && parts.text.includes(callsJson));
  // Rendered inside a JSON string by the template: `"` is two bytes, `<` and `&` six each.
  const goBytes = (json: string) =>
    json.length + (json.match(/"/g)?.length ?? 0) + 5 * (json.match(/[<>&]/g)?.length ?? 0);
  const expected = (9 + 1) + (0 + 1) + (goBytes(callsJson) + 1) + (goBytes(toolsJson) + 1);
  assert.equal(parts.textBound, expected);
});

Deno.test("context ids count one token each and deep nesting is counted as its JSON text", () => {
  let deep: unknown = "leaf";
  for (let i = 0; i < 40; i++) deep = [deep];
  const parts = promptParts({ prompt: "p", context: [1, 2, 3], messages: [{ content: deep }] });
  assert.equal(parts.contextTokens, 3);
  // Past the depth limit the rest of the subtree is one JSON piece, brackets and all.
  const json = `${"[".repeat(9)}"leaf"${"]".repeat(9)}`;
  assert.equal(parts.text, `p\n${json}`);
  assert.equal(parts.textBound, (1 + 1) + (json.length + 2 + 1));
});
