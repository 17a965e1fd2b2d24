/**
 * Ollama's model list for the admin pages, with a failure kept as a message to show. With
 * several boxes the list is their union (one entry per name), from the boxes that answer.
 * @module
 */
import { type OllamaModel, ollamaModels, OllamaUnavailable } from "../core/ollama.ts";
import type { UpstreamConfig } from "../core/upstreams/types.ts";
import type { ModelList } from "../views/settings_page.tsx";

/** How long a page waits for Ollama before it shows the page without the list (milliseconds). */
const PAGE_TIMEOUT_MS = 3000;

/** Ollama's models at `baseUrl`, or the exact reason they could not be listed. */
export async function modelList(baseUrl: string, token: string | null = null): Promise<ModelList> {
  try {
    return { ok: true, models: await ollamaModels(baseUrl, PAGE_TIMEOUT_MS, token) };
  } catch (err) {
    if (err instanceof OllamaUnavailable) return { ok: false, error: err.message };
    throw err;
  }
}

/**
 * The models of every enabled box, one entry per name (the first box's), or why none could be
 * listed: the first box's reason, or that no box is configured.
 */
export async function boxesModelList(boxes: ReadonlyArray<UpstreamConfig>): Promise<ModelList> {
  const enabled = boxes.filter((b) => b.enabled);
  if (enabled.length === 0) {
    return {
      ok: false,
      error: "No Ollama box is configured (or enabled): add one on the Ollama boxes page.",
    };
  }
  const lists = await Promise.all(enabled.map((b) => modelList(b.url, b.token)));
  const answered = lists.filter((l) => l.ok);
  if (answered.length === 0) return lists[0];
  const byName = new Map<string, OllamaModel>();
  for (const list of answered) {
    for (const m of list.models) if (!byName.has(m.name)) byName.set(m.name, m);
  }
  return { ok: true, models: [...byName.values()] };
}
