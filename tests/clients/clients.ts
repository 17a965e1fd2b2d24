/**
 * The real npm clients, pointed at a test gateway or straight at its mock Ollama, and helpers to
 * compare what they return.
 * @module
 */
import Anthropic from "@anthropic-ai/sdk";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { errorResponse, ProxyError } from "../../proxy/errors.ts";
import { familyOf } from "../../proxy/routes.ts";
import type { TestGateway } from "../support/gateway.ts";

/** Where a client is pointed: the gateway (with a key) or the mock Ollama itself. */
export type Target = "gateway" | "ollama";

/** Options shared by the Stainless-made SDKs (OpenAI, Anthropic). */
export interface SdkOptions {
  /** The SDK's own default is 2; tests that provoke 5xx set 0 to stay fast. */
  maxRetries?: number;
  /** Wraps fetch, e.g. to count attempts. */
  fetch?: typeof fetch;
}

/** An OpenAI SDK client; against Ollama it uses the placeholder key Ollama's docs give. */
export function openaiFor(
  t: TestGateway,
  target: Target,
  key: string,
  options: SdkOptions = {},
): OpenAI {
  return new OpenAI({
    baseURL: (target === "gateway" ? t.gateway.proxyUrl : t.mock.url) + "/v1",
    apiKey: target === "gateway" ? key : "ollama",
    ...options,
  });
}

/** An ollama-js client, with the key in a header as the README tells users to set it. */
export function ollamaFor(t: TestGateway, target: Target, key: string, host?: string): Ollama {
  return new Ollama({
    host: host ?? (target === "gateway" ? t.gateway.proxyUrl : t.mock.url),
    headers: target === "gateway" ? { Authorization: `Bearer ${key}` } : undefined,
  });
}

/** An Anthropic SDK client; it sends the key as `x-api-key`. */
export function anthropicFor(
  t: TestGateway,
  target: Target,
  key: string,
  options: SdkOptions = {},
): Anthropic {
  return new Anthropic({
    baseURL: target === "gateway" ? t.gateway.proxyUrl : t.mock.url,
    apiKey: target === "gateway" ? key : "ollama",
    ...options,
  });
}

/** A fetch that counts the requests a client makes (its retries included). */
export function countingFetch(): { fetch: typeof fetch; calls: () => number } {
  let calls = 0;
  return {
    fetch: (input, init) => {
      calls++;
      return fetch(input, init);
    },
    calls: () => calls,
  };
}

// Fields that differ between two answers to the same request: ids, clocks and timings.
const VOLATILE =
  /^(id|created|created_at|completed_at|expires_at|request_id|total_duration|load_duration|prompt_eval_duration|eval_duration|_request_id)$/;
const VOLATILE_ID = /^(chatcmpl|cmpl|resp|msg|req)[-_][0-9a-f]+$/;

/** A deep copy without volatile fields, for comparing answers made at different moments. */
export function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (typeof value === "string") return VOLATILE_ID.test(value) ? "<id>" : value;
  if (!value || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!VOLATILE.test(k)) out[k] = stable(v);
  }
  return out;
}

/** Collects an async iterable (a client's stream) into an array. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

/** Runs `call` and returns what it threw; fails if it did not throw. */
export async function caught(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to fail");
}

/**
 * A server that answers every request with the gateway's own error response for `status`, in
 * the family of the request's path: the gateway's error path for statuses no route of the
 * proxy produces (today: 403 on /v1/*, and 422).
 */
export function serveGatewayError(
  status: number,
  message: string,
  code: string,
): { url: string; close(): Promise<void> } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      errorResponse(familyOf(new URL(req.url).pathname), new ProxyError(status, message, code)),
  );
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}
