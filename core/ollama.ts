/**
 * Questions the admin asks Ollama directly: its version and its models. Messages name the URL
 * without its credentials.
 * @module
 */
import { redactUrl, redactUrlsIn } from "./redact.ts";

/** A model Ollama has installed, as the admin shows it. */
export interface OllamaModel {
  name: string;
  size: number;
  family: string;
  parameter_size: string;
  quantization_level: string;
  modified_at: string;
}

/** Thrown with a message that says exactly why Ollama could not be asked. */
export class OllamaUnavailable extends Error {}

async function getJson(baseUrl: string, path: string, timeoutMs: number): Promise<unknown> {
  const shown = redactUrl(baseUrl);
  let res: Response;
  try {
    res = await fetch(baseUrl.replace(/\/+$/, "") + path, {
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const reason = (err as Error).name === "TimeoutError"
      ? `no answer within ${timeoutMs / 1000} s`
      : redactUrlsIn((err as Error).message.split(baseUrl).join(shown));
    throw new OllamaUnavailable(`Cannot reach Ollama at ${shown}: ${reason}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new OllamaUnavailable(`Ollama at ${shown} answered ${res.status} for ${path}`);
  }
  try {
    return await res.json();
  } catch {
    throw new OllamaUnavailable(`Ollama at ${shown} sent an answer that is not JSON`);
  }
}

/** Ollama's version string, or throws OllamaUnavailable. */
export async function ollamaVersion(baseUrl: string, timeoutMs = 5000): Promise<string> {
  const body = await getJson(baseUrl, "/api/version", timeoutMs) as { version?: unknown };
  return String(body.version ?? "unknown");
}

/** The models Ollama has installed, or throws OllamaUnavailable. */
export async function ollamaModels(baseUrl: string, timeoutMs = 5000): Promise<OllamaModel[]> {
  const body = await getJson(baseUrl, "/api/tags", timeoutMs) as { models?: unknown };
  const models = Array.isArray(body.models) ? body.models : [];
  return models.map((m: Record<string, unknown>) => {
    const d = (m.details ?? {}) as Record<string, unknown>;
    return {
      name: String(m.name ?? m.model ?? ""),
      size: Number(m.size ?? 0),
      family: String(d.family ?? ""),
      parameter_size: String(d.parameter_size ?? ""),
      quantization_level: String(d.quantization_level ?? ""),
      modified_at: String(m.modified_at ?? ""),
    };
  });
}
