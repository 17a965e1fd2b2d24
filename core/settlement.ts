/**
 * The settlement rule: what an admitted request is charged once it ends, and what its end does
 * to the counters. Written once here; SQLite applies `counterChanges` as it is and PostgreSQL's
 * batch statement implements the same table in SQL, which the store contract tests hold to it.
 * @module
 */

/** How far a request got and how it ended, as the relay saw it. */
export type Outcome =
  /** Never reached Ollama (connection refused, DNS): nothing was used. */
  | { kind: "not_sent"; status: number }
  /** Ollama refused it before doing any work (4xx, 503 busy): nothing was used. */
  | { kind: "refused_upstream"; status: number }
  /**
   * Ollama got it and may have worked on it, but no usage came back: a model that failed to
   * load (5xx), no answer before UPSTREAM_CONNECT_TIMEOUT, the client left before the first
   * byte. `promptEvaluated`: whether Ollama may have evaluated the prompt.
   */
  | { kind: "no_answer"; status: number; promptEvaluated: boolean }
  /** Ollama answered (completely or not); `reported` is its usage when it gave one. */
  | { kind: "answered"; status: number; reported: ReportedUsage | null; producedOutput: boolean };

/** Ollama's `load_duration`, `prompt_eval_duration` and `eval_duration`, converted to ms. */
export interface OllamaTimings {
  loadMs: number | null;
  promptEvalMs: number | null;
  evalMs: number | null;
}

/** Counts Ollama reported; null where it gave none (or none that could be trusted). */
export interface ReportedUsage {
  promptTokens: number | null;
  completionTokens: number | null;
  /** Ollama's own timings, from native final bodies and lines (absent elsewhere). */
  timings?: OllamaTimings | null;
  /** Reported fields that held something other than a token count (treated as missing). */
  invalid?: string[];
}

/** Estimates for what Ollama did not report, computed only when needed. */
export interface Estimates {
  /** The prompt's tokens when Ollama gave no count (see core/prompt.ts). */
  prompt(): number;
  /** The output's tokens when Ollama gave no count. */
  completion(): number;
}

/** What a request is charged. */
export interface Charge {
  /** False: the request unit is given back (the request cost nothing). */
  charged: boolean;
  promptTokens: number;
  completionTokens: number;
  estimated: boolean;
  status: number;
}

/** The charge for an outcome. */
export function chargeOf(outcome: Outcome, estimates: Estimates): Charge {
  switch (outcome.kind) {
    case "not_sent":
    case "refused_upstream":
      return {
        charged: false,
        promptTokens: 0,
        completionTokens: 0,
        estimated: false,
        ...status(outcome),
      };
    case "no_answer":
      // The request unit stays taken: the GPU may have been busy with it.
      return outcome.promptEvaluated
        ? {
          charged: true,
          promptTokens: estimates.prompt(),
          completionTokens: 0,
          estimated: true,
          ...status(outcome),
        }
        : {
          charged: true,
          promptTokens: 0,
          completionTokens: 0,
          estimated: false,
          ...status(outcome),
        };
    case "answered": {
      const prompt = outcome.reported?.promptTokens ?? null;
      const completion = outcome.reported?.completionTokens ?? null;
      return {
        charged: true,
        promptTokens: prompt ?? estimates.prompt(),
        completionTokens: completion ?? (outcome.producedOutput ? estimates.completion() : 0),
        estimated: prompt === null || (completion === null && outcome.producedOutput),
        ...status(outcome),
      };
    }
  }
}

function status(o: Outcome): { status: number } {
  return { status: o.status };
}

/** A ledger row's state before its settlement arrives. */
export type PriorState = "pending" | "abandoned" | "settled" | "missing";

/** What one settlement does to the counters of the request's window (all deltas). */
export interface CounterChanges {
  /** Request units given back (0 or 1). */
  requestsBack: number;
  /** Reserved tokens released. */
  released: number;
  promptTokens: number;
  completionTokens: number;
  /** Whether the ledger row ends charged. */
  charged: boolean;
}

/**
 * The counter changes of a settlement given the ledger row's prior state: a pending request
 * releases its reservation and keeps or gives back its unit; an abandoned one (its gateway was
 * presumed dead and its reservation already released, its unit kept) is late: its tokens count,
 * nothing is released twice; a settled or deleted one changes nothing (null).
 */
export function counterChanges(
  prior: PriorState,
  reservation: number,
  charge: Pick<Charge, "charged" | "promptTokens" | "completionTokens">,
): CounterChanges | null {
  if (prior === "settled" || prior === "missing") return null;
  const late = prior === "abandoned";
  const charged = charge.charged || late;
  return {
    requestsBack: charged ? 0 : 1,
    released: late ? 0 : reservation,
    promptTokens: charge.charged ? charge.promptTokens : 0,
    completionTokens: charge.charged ? charge.completionTokens : 0,
    charged,
  };
}
