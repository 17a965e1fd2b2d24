/**
 * What one box has: the models its `/api/tags` lists and those its `/api/ps` shows loaded, with
 * the context each loaded runner was started with. Names are compared by Ollama's rules
 * (core/model_names.ts), so `llama3` and `library/llama3:latest` are one model.
 * @module
 */
import { canonicalModel } from "../model_names.ts";

/** A model a box has loaded. */
export interface LoadedModel {
  name: string;
  /** The runner's context length; null when `/api/ps` did not say. */
  contextLength: number | null;
}

type Json = Record<string, unknown>;

/** The entries of a listing (`{"models":[…]}`), or null when it is not one. */
function entriesOf(json: unknown): Json[] | null {
  const models = (json as Json | null)?.models;
  return Array.isArray(models) ? models.filter((m) => typeof m === "object" && m !== null) : null;
}

function nameOf(entry: Json): string | null {
  const name = typeof entry.name === "string" ? entry.name : entry.model;
  return typeof name === "string" && name.trim() !== "" ? name : null;
}

/** The models of one box. */
export class BoxCatalog {
  /** Canonical name → name as listed; null until the box's tags were read. */
  #listed: Map<string, string> | null = null;
  #loaded = new Map<string, LoadedModel>();

  /** Takes an `/api/tags` answer; false (and nothing changes) when it is not a listing. */
  setTags(json: unknown): boolean {
    const entries = entriesOf(json);
    if (entries === null) return false;
    const listed = new Map<string, string>();
    for (const entry of entries) {
      const name = nameOf(entry);
      if (name !== null) listed.set(canonicalModel(name), name);
    }
    this.#listed = listed;
    return true;
  }

  /** Takes an `/api/ps` answer; false (and nothing changes) when it is not a listing. */
  setLoaded(json: unknown): boolean {
    const entries = entriesOf(json);
    if (entries === null) return false;
    this.#loaded.clear();
    for (const entry of entries) {
      const name = nameOf(entry);
      if (name === null) continue;
      const ctx = entry.context_length;
      const contextLength = typeof ctx === "number" && Number.isSafeInteger(ctx) && ctx > 0
        ? ctx
        : null;
      this.#loaded.set(canonicalModel(name), { name, contextLength });
    }
    return true;
  }

  /** Whether the box lists `model`; null while its tags are unknown. */
  lists(model: string): boolean | null {
    return this.#listed === null ? null : this.#listed.has(canonicalModel(model));
  }

  /** The loaded runner of `model`, or null when it is not loaded (as far as known). */
  loaded(model: string): LoadedModel | null {
    return this.#loaded.get(canonicalModel(model)) ?? null;
  }

  /** Forgets `model`: the box said it does not have it, whatever its tags said. */
  forget(model: string): void {
    const name = canonicalModel(model);
    this.#listed?.delete(name);
    this.#loaded.delete(name);
  }

  /** The listed model names (as listed), or null while unknown. */
  get models(): string[] | null {
    return this.#listed === null ? null : [...this.#listed.values()];
  }

  /** The loaded models. */
  get loadedModels(): LoadedModel[] {
    return [...this.#loaded.values()];
  }
}
