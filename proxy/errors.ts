/**
 * The proxy's error type and the error bodies each client family parses.
 * @module
 */

/** Which clients a route serves, and so which error shape they expect. */
export type RouteFamily = "ollama" | "openai" | "anthropic";

/** An error the gateway answers itself; turned into a response by the proxy's onError. */
export class ProxyError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const OPENAI_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "invalid_request_error",
  403: "permission_error",
  404: "not_found_error",
  413: "invalid_request_error",
  422: "invalid_request_error",
  429: "insufficient_quota",
};

const ANTHROPIC_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  422: "invalid_request_error",
  429: "rate_limit_error",
  503: "overloaded_error",
  504: "timeout_error",
};

/** Builds the error response body for a family: Ollama, OpenAI or Anthropic shape. */
export function errorBody(family: RouteFamily, status: number, message: string, code: string) {
  switch (family) {
    case "ollama":
      return { error: message };
    case "openai":
      return {
        error: { message, type: OPENAI_TYPES[status] ?? "api_error", param: null, code },
      };
    case "anthropic":
      return { type: "error", error: { type: ANTHROPIC_TYPES[status] ?? "api_error", message } };
  }
}

/** Turns a ProxyError into a JSON response in the family's shape. */
export function errorResponse(family: RouteFamily, err: ProxyError): Response {
  return Response.json(errorBody(family, err.status, err.message, err.code), {
    status: err.status,
    headers: err.headers,
  });
}
