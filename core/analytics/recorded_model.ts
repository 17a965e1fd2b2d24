/**
 * The spelling the ledger and the rollups record a model under, for filters: admission records
 * the canonical spelling (core/model_names.ts), so a filter by `llama3` must ask for
 * `llama3:latest`.
 * @module
 */
import { canonicalModel } from "../model_names.ts";
import { OTHER_MODEL } from "./refusal_cap.ts";

/**
 * The recorded spelling of the model a filter names: canonical, except OTHER_MODEL (the
 * refused-model cap's name, recorded as it is and never the canonical spelling of a request's).
 */
export function recordedModel(name: string): string {
  const trimmed = name.trim();
  return trimmed === OTHER_MODEL ? OTHER_MODEL : canonicalModel(trimmed);
}
