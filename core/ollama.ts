/**
 * Questions the admin asks Ollama directly: its version and its models. Messages name the URL
 * without its credentials.
 * @module
 */
import { fetchFailureHint, fetchFailureWords } from "./fetch_failure.ts";
import { redactUrl } from "./redact.ts";

/** A model Ollama has installed, as the admin shows it. */
export interface OllamaModel {
  name: string;
  size: number;
  family: string;
  parameter_size: string;
  quantization_level: string;
  modified_at: string;
}

/**
 * Thrown with a message that says why Ollama could not be asked and what to do about it:
 * `reason` (what went wrong) and `hint` (what to check) also apart, for a line that names the
 * URL already.
 */
export class OllamaUnavailable extends Error {
  constructor(readonly shownUrl: string, readonly reason: string, readonly hint: string) {
    super(`Cannot reach Ollama at ${shownUrl}: ${reason}. ${hint}`);
  }
}

/** Ollama's URL answered, but not as Ollama does (an error status, or not JSON). */
class OllamaAnsweredOddly extends OllamaUnavailable {
  constructor(shownUrl: string, reason: string, hint: string) {
    super(shownUrl, reason, hint);
    this.message = `Ollama at ${shownUrl} ${reason}. ${hint}`;
  }
}

/** What an answer that is not Ollama's suggests. */
const NOT_OLLAMA_HINT =
  "Is it Ollama that answers at this URL? Use Ollama's base URL without a path, e.g. http://localhost:11434.";

async function getJson(
  baseUrl: string,
  path: string,
  timeoutMs: number,
  token: string | null,
): Promise<unknown> {
  const shown = redactUrl(baseUrl);
  let res: Response;
  try {
    res = await fetch(baseUrl.replace(/\/+$/, "") + path, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if ((err as Error).name === "TimeoutError") {
      throw new OllamaUnavailable(
        shown,
        `no answer within ${timeoutMs / 1000} s`,
        fetchFailureHint(err),
      );
    }
    throw new OllamaUnavailable(shown, fetchFailureWords(err), fetchFailureHint(err));
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new OllamaAnsweredOddly(
      shown,
      `answered ${res.status} for ${path}`,
      res.status === 401 || res.status === 403
        ? "A proxy in front of Ollama refuses the gateway: let it through, or use Ollama's own address."
        : NOT_OLLAMA_HINT,
    );
  }
  try {
    return await res.json();
  } catch {
    throw new OllamaAnsweredOddly(shown, `sent an answer that is not JSON`, NOT_OLLAMA_HINT);
  }
}

/** Ollama's version string, or throws OllamaUnavailable (`token`: the box's bearer token). */
export async function ollamaVersion(
  baseUrl: string,
  timeoutMs = 5000,
  token: string | null = null,
): Promise<string> {
  const body = await getJson(baseUrl, "/api/version", timeoutMs, token) as { version?: unknown };
  return String(body.version ?? "unknown");
}

/** The models Ollama has installed, or throws OllamaUnavailable (`token`: as for the version). */
export async function ollamaModels(
  baseUrl: string,
  timeoutMs = 5000,
  token: string | null = null,
): Promise<OllamaModel[]> {
  const body = await getJson(baseUrl, "/api/tags", timeoutMs, token) as { models?: unknown };
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
