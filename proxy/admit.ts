/**
 * Admitting an inference request: asks the store (which decides with core/admission.ts inside
 * its locked transaction) and turns every refusal into the client's error. The prompt is
 * reserved at its upper bound, computed before the lock; only when that bound alone does not
 * fit is the tokenizer's count (exact for short prompts) computed, still outside the lock, and
 * admission asked once more with it.
 * @module
 */
import type { Deps } from "../deps.ts";
import { type Ask, type Decision, retriableWithEstimate } from "../core/admission.ts";
import { kindOf } from "../core/limits.ts";
import { canonicalModel } from "../core/model_names.ts";
import type { ApiKey, Member } from "../core/model.ts";
import type { Admission } from "../core/store.ts";
import { type RequestWindows, requestWindows } from "../core/windows.ts";
import { databaseUnavailable, refuseUnusableKey } from "./auth.ts";
import { ProxyError } from "./errors.ts";
import type { InferenceRequest } from "./inference_request.ts";
import { modelNotAllowed, quotaExceeded } from "./quota_errors.ts";
import { RequestQuota, setRateLimitHeaders } from "./ratelimit_headers.ts";
import type { RequestRecord } from "../ops/request_record.ts";

/** An admitted request: its ledger id, the decision and its x-ratelimit-* headers. */
export interface Admitted {
  requestId: number;
  decision: Decision & { ok: true };
  quota: RequestQuota;
}

/** Admits `request` for `key`, or throws the ProxyError the client gets (401, 429, 503). */
export async function admitRequest(
  deps: Deps,
  key: ApiKey,
  member: Member | null,
  request: InferenceRequest,
  record: RequestRecord,
): Promise<Admitted> {
  const now = deps.clock.now();
  const windows = requestWindows(now, deps.config.timeZone);
  const ask: Ask = {
    model: request.model,
    promptTokens: request.promptBound,
    generates: request.route.generates,
    clientMaxTokens: request.clientMaxTokens,
    maxReservedTokens: deps.config.maxReservedTokens,
  };
  const start = {
    keyId: key.id,
    memberId: member?.id ?? null,
    windows,
    route: request.route.path,
    // The ledger and rollups hold one spelling per model (`llama3` is `llama3:latest`), so
    // analytics show one series; the body forwarded upstream keeps the client's spelling.
    model: canonicalModel(request.model),
    startedAt: new Date(now.epochMilliseconds).toISOString(),
    instanceId: deps.instanceId,
  };
  const admit = (a: Ask, provisional: boolean) =>
    deps.store.admit({ ...start, provisional }, a, now.epochMilliseconds).catch((err): never => {
      throw databaseUnavailable(deps, err);
    });
  // The first answer is provisional: a token refusal of the prompt's upper bound is asked again
  // (with the exact count when it is smaller), and only that second answer is recorded.
  let admission = await admit(ask, true);
  if (admission.kind === "refused" && retriableWithEstimate(admission.decision)) {
    const estimate = request.promptEstimate();
    admission = await admit({ ...ask, promptTokens: Math.min(estimate, ask.promptTokens) }, false);
  }
  return admittedOrThrow(admission, request.model, windows, now, deps, record);
}

function admittedOrThrow(
  admission: Admission,
  model: string,
  windows: RequestWindows,
  now: Temporal.Instant,
  deps: Deps,
  record: RequestRecord,
): Admitted {
  switch (admission.kind) {
    case "missing":
      throw new ProxyError(401, "Invalid API key", "invalid_api_key");
    case "unusable":
      refuseUnusableKey(admission.key, now);
      throw new ProxyError(401, "API key cannot be used", "api_key_unusable");
    case "refused": {
      const refusal = admission.decision;
      if (refusal.reason === "blocked") {
        throw new ProxyError(
          403,
          "An admin has blocked your access through this key",
          "member_blocked",
          { "x-ratelimit-scope": "member" },
        );
      }
      if (!("limit" in refusal)) throw modelNotAllowed(model);
      const headers = new Headers();
      setRateLimitHeaders(headers, admission.decision.quota, windows, now);
      record.quotaLimit = kindOf(refusal.limit).slug;
      throw quotaExceeded(refusal, windows, now, deps.config.timeZone, headers);
    }
    case "admitted": {
      const { quota, released } = admission.decision;
      return {
        requestId: admission.requestId,
        decision: admission.decision,
        quota: new RequestQuota(quota, released, windows, deps.clock),
      };
    }
  }
}
