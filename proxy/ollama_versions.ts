/**
 * The first Ollama release that serves each route the gateway forwards, so that a 404 from an
 * older Ollama can say which version the route needs. Read from Ollama's git history: the
 * commit that registered the route in `server/routes.go`, and the first release tag containing
 * it (`git tag --contains`). The README's table says the same.
 * @module
 */

/** Ollama's route (as the gateway forwards it) → the first release that serves it. */
export const OLLAMA_SINCE: Readonly<Record<string, string>> = {
  "/api/chat": "0.1.14",
  "/api/version": "0.1.14",
  "/v1/chat/completions": "0.1.24",
  "/api/ps": "0.1.38",
  "/v1/completions": "0.2.0",
  "/v1/models": "0.2.0",
  "/v1/models/:model": "0.2.0",
  "/api/embed": "0.2.6",
  "/v1/embeddings": "0.2.6",
  "/v1/responses": "0.13.3",
  "/v1/messages": "0.14.0",
};

/** "Ollama 0.14.0 or newer" for a route known here, else "a newer Ollama". */
export function ollamaNeededFor(route: string): string {
  const since = OLLAMA_SINCE[route];
  return since ? `Ollama ${since} or newer` : "a newer Ollama";
}
