/**
 * Ready-to-copy client snippets for the Proxy info page, filled with the proxy's URLs.
 * @module
 */
import type { ProxyInfo } from "./proxy_info.ts";

/** One snippet: an id for its copy button, a title, and the code. */
export interface Snippet {
  id: string;
  title: string;
  code: string;
}

/** The environment variable every snippet reads the key from, so no key lands in source code. */
export const KEY_VARIABLE = "LLM_QUOTA_KEY";

// A single-quoted shell word cannot contain ', so each one is closed, escaped and reopened.
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** Snippets for curl, the OpenAI SDKs (Python, JS) and the Ollama clients (Python, JS). */
export function proxySnippets(info: ProxyInfo, model: string): Snippet[] {
  const m = JSON.stringify(model);
  const hello = `[{"role": "user", "content": "Hello!"}]`;
  return [
    {
      id: "snippet-curl-openai",
      title: "curl (OpenAI-compatible)",
      code: `curl ${info.openai_base_url}/chat/completions \\
  -H "Authorization: Bearer $${KEY_VARIABLE}" \\
  -H "Content-Type: application/json" \\
  -d ${shellQuote(`{"model": ${m}, "messages": ${hello}}`)}`,
    },
    {
      id: "snippet-curl-ollama",
      title: "curl (Ollama API)",
      code: `curl ${info.ollama_base_url}/api/chat \\
  -H "Authorization: Bearer $${KEY_VARIABLE}" \\
  -d ${shellQuote(`{"model": ${m}, "messages": ${hello}, "stream": false}`)}`,
    },
    {
      id: "snippet-openai-python",
      title: "OpenAI SDK for Python",
      code: `import os
from openai import OpenAI

client = OpenAI(base_url="${info.openai_base_url}", api_key=os.environ["${KEY_VARIABLE}"])
reply = client.chat.completions.create(
    model=${m},
    messages=[{"role": "user", "content": "Hello!"}],
)
print(reply.choices[0].message.content)`,
    },
    {
      id: "snippet-openai-js",
      title: "OpenAI SDK for JavaScript",
      code: `import OpenAI from "openai";

const client = new OpenAI({
  baseURL: "${info.openai_base_url}",
  apiKey: process.env.${KEY_VARIABLE},
});
const reply = await client.chat.completions.create({
  model: ${m},
  messages: [{ role: "user", content: "Hello!" }],
});
console.log(reply.choices[0].message.content);`,
    },
    {
      id: "snippet-ollama-python",
      title: "Ollama client for Python",
      code: `import os
from ollama import Client

client = Client(
    host="${info.ollama_base_url}",
    headers={"Authorization": "Bearer " + os.environ["${KEY_VARIABLE}"]},
)
reply = client.chat(model=${m}, messages=[{"role": "user", "content": "Hello!"}])
print(reply.message.content)`,
    },
    {
      id: "snippet-ollama-js",
      title: "Ollama client for JavaScript",
      code: `import { Ollama } from "ollama";

const ollama = new Ollama({
  host: "${info.ollama_base_url}",
  headers: { Authorization: \`Bearer \${process.env.${KEY_VARIABLE}}\` },
});
const reply = await ollama.chat({
  model: ${m},
  messages: [{ role: "user", content: "Hello!" }],
});
console.log(reply.message.content);`,
    },
  ];
}
