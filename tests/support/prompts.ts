/**
 * The prompt bound and estimate of a request body as the gateway computes them, for tests that
 * check what a request reserved or was charged without a count from Ollama.
 * @module
 */
import { promptBound, promptEstimate, promptParts } from "../../core/prompt.ts";

/** The upper bound admission reserves for a body's prompt. */
export const boundOf = (body: Record<string, unknown>) => promptBound(promptParts(body));

/** What a body's prompt is charged when Ollama reports no count. */
export const estimateOf = (body: Record<string, unknown>) => promptEstimate(promptParts(body));
