/**
 * An inference request as the gateway forwards it: the canonical body after the server's guards
 * and the key's policy, with what admission and settlement need to know about it.
 * @module
 */
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import type { ApiKey } from "../core/model.ts";
import type { Settings } from "../core/settings.ts";
import {
  DEFAULT_ALLOWANCE,
  promptBound,
  promptEstimate,
  type PromptParts,
  promptParts,
} from "../core/prompt.ts";
import { estimateTokens } from "../core/tokens.ts";
import { databaseUnavailable, type ProxyEnv } from "./auth.ts";
import { ProxyError } from "./errors.ts";
import { guardRunner, refuseForbidden } from "./guards.ts";
import { readInferenceBody } from "./request_body.ts";
import type { InferenceRoute } from "./routes.ts";

type Body = Record<string, unknown>;

/** A parsed, guarded inference request. */
export interface InferenceRequest {
  route: InferenceRoute;
  body: Body;
  model: string;
  settings: Settings;
  /** Whether the client asked for a streamed answer. */
  stream: boolean;
  /** The client's own generation limit, when it set a positive one. */
  clientMaxTokens: number | null;
  /** An upper bound of the prompt's tokens (cheap; see core/prompt.ts). */
  promptBound: number;
  /** The prompt's tokens as charged without a count from Ollama (CPU: never inside a lock). */
  promptEstimate(): number;
  /** Estimated tokens of generated text, for answers without a count. */
  completionEstimate(text: string): number;
}

/** Reads the body of `route`, fills in the default model, applies the guards. */
export async function readInferenceRequest(
  c: Context<ProxyEnv>,
  route: InferenceRoute,
  key: ApiKey,
  deps: Deps,
): Promise<InferenceRequest> {
  const body = await readInferenceBody(c.req.raw, route);
  const settings = await deps.settings.get().catch((err) => {
    throw databaseUnavailable(deps, err);
  });
  if (typeof body.model !== "string" || body.model.trim() === "") {
    body.model = settings.default_model;
  }
  const model = body.model as string;
  // No model-list check here: admission refuses a model the key's list (or its group's, its
  // person's) does not allow, so the refusal is counted in the rollups and logged under the cap.
  refuseForbidden(body, route, settings);
  const numCtx = route.native ? guardRunner(body, settings, key.policy) : null;
  let parts: PromptParts | null = promptParts(body);
  // The runner truncates the prompt to its context, so a known context bounds it too.
  const clip = (n: number) => numCtx !== null ? Math.min(n, numCtx) : n;
  const rawBound = promptBound(parts, DEFAULT_ALLOWANCE);
  const maxCtx = route.native ? key.policy.max_num_ctx : null;
  // Only a prompt whose bound exceeds the key's context is worth the tokenizer's time.
  if (maxCtx !== null && rawBound > maxCtx) {
    const estimated = promptEstimate(parts, DEFAULT_ALLOWANCE);
    if (estimated > maxCtx) {
      throw new ProxyError(
        413,
        `The prompt (about ${estimated} tokens, estimated) is larger than this key's context limit of ${maxCtx} tokens (max_num_ctx)`,
        "prompt_too_large",
      );
    }
  }
  const bound = clip(rawBound);
  let estimate: number | null = null;
  return {
    route,
    body,
    model,
    settings,
    stream: route.streamsByDefault ? body.stream !== false : body.stream === true,
    clientMaxTokens: route.generation?.read(body) ?? null,
    promptBound: bound,
    promptEstimate() {
      if (estimate === null) {
        estimate = Math.min(bound, clip(promptEstimate(parts!, DEFAULT_ALLOWANCE)));
        parts = null; // the joined text is no longer needed
      }
      return estimate;
    },
    completionEstimate: estimateTokens,
  };
}
