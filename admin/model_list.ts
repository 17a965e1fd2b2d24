/**
 * Ollama's model list for the admin pages, with a failure kept as a message to show.
 * @module
 */
import { ollamaModels, OllamaUnavailable } from "../core/ollama.ts";
import type { ModelList } from "../views/settings_page.tsx";

/** How long a page waits for Ollama before it shows the page without the list (milliseconds). */
const PAGE_TIMEOUT_MS = 3000;

/** Ollama's models at `baseUrl`, or the exact reason they could not be listed. */
export async function modelList(baseUrl: string): Promise<ModelList> {
  try {
    return { ok: true, models: await ollamaModels(baseUrl, PAGE_TIMEOUT_MS) };
  } catch (err) {
    if (err instanceof OllamaUnavailable) return { ok: false, error: err.message };
    throw err;
  }
}
