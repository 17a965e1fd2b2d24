import assert from "node:assert/strict";
import { redactPath, redactUrl, redactUrlsIn } from "../../core/redact.ts";

Deno.test("redactPath shows each key-like path segment as sk-***, plain or percent-encoded", () => {
  const cases: Array<[string, string]> = [
    ["/sk-abc_DEF-123/api/chat", "/sk-***/api/chat"],
    ["/api/chat/sk-abc", "/api/chat/sk-***"],
    ["/sk-a/x/sk-b", "/sk-***/x/sk-***"],
    ["/%73%6B%2Dabc/api/tags", "/sk-***/api/tags"],
    ["/v1/models/%2573k%252dabc", "/v1/models/sk-***"],
    ["/api/tags/Bearer sk-abc", "/api/tags/Bearer sk-***"],
    ["/api/tags/Bearer%20sk-abc", "/api/tags/Bearer%20sk-***"],
    ["/key=sk-abc/x", "/key=sk-***/x"],
    ["/SK-abc", "/sk-***"],
  ];
  for (const [path, shown] of cases) assert.equal(redactPath(path), shown, path);
  // `sk-` inside a word is no key.
  for (const path of ["/api/chat", "/api/task-list", "/v1/models/mask-rcnn", "/", ""]) {
    assert.equal(redactPath(path), path);
  }
});

Deno.test("redactUrl shows a URL's username and password as ***, and leaves the rest as written", () => {
  const cases: Array<[string, string]> = [
    ["http://user:pass@host:11434", "http://***@host:11434"],
    ["https://user@gpu-box/", "https://***@gpu-box/"],
    ["http://:pass@host", "http://***@host"],
    ["http://u:p@ss@host/x@y?z=@#@", "http://***@host/x@y?z=@#@"],
    ["http://u:p w@host:1", "http://***@host:1"],
  ];
  for (const [url, shown] of cases) assert.equal(redactUrl(url), shown, url);
  for (const url of ["http://localhost:11434", "http://host/path@x", "http://host?a=@b", "x@y"]) {
    assert.equal(redactUrl(url), url);
  }
});

Deno.test("redactUrlsIn shows the credentials of every URL in a text as ***", () => {
  assert.equal(
    redactUrlsIn("error sending request for url (http://u:p@h:1/api/version): refused"),
    "error sending request for url (http://***@h:1/api/version): refused",
  );
  assert.equal(
    redactUrlsIn("a http://a:b@x and https://c@y/z@w"),
    "a http://***@x and https://***@y/z@w",
  );
  assert.equal(
    redactUrlsIn("mail me@example.com at http://host/"),
    "mail me@example.com at http://host/",
  );
});

Deno.test("a long path is cut for log lines and messages, its keys still hidden", () => {
  const long = `/api/sk-secret${"/a".repeat(5000)}`;
  const shown = redactPath(long);
  assert.ok(shown.length < 1100, String(shown.length));
  assert.ok(shown.startsWith("/api/sk-***/a/a"));
  assert.match(shown, /…\(\d+ more\)$/);
  assert.equal(redactPath("/api/tags"), "/api/tags");
});
