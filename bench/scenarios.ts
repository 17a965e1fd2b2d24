/**
 * The scenarios of issues 7 and 18 and the request bodies they send.
 * @module
 */

/** Which keys a scenario rotates through. */
export type KeySet = "one" | "many" | "hundred";

/** One load scenario, run against every target in turn. */
export interface Scenario {
  id: string;
  path: "/api/chat" | "/v1/chat/completions";
  stream: boolean;
  chunks: number;
  delayMs: number;
  keys: KeySet;
  connections: number;
  /** Also measure time to first chunk and chunk order with the probe (1-connection streams). */
  ttfc?: boolean;
  /** Postgres-only scenario. */
  pgOnly?: boolean;
}

/** The JSON body a scenario sends. */
export function bodyOf(s: Pick<Scenario, "path" | "stream" | "chunks" | "delayMs">): string {
  const body: Record<string, unknown> = {
    model: `bench-c${s.chunks}-d${s.delayMs}`,
    messages: [{ role: "user", content: "Hello! Please answer with a short greeting." }],
    stream: s.stream,
  };
  if (s.stream && s.path === "/v1/chat/completions") body.stream_options = { include_usage: true };
  return JSON.stringify(body);
}

/** Content chunks of non-streamed answers. */
const PLAIN_CHUNKS = 10;

/** Every scenario of the default run (the Postgres ones run only with --pg). */
export function scenarios(): Scenario[] {
  const out: Scenario[] = [];
  for (const path of ["/api/chat", "/v1/chat/completions"] as const) {
    const route = path === "/api/chat" ? "chat" : "openai";
    for (const keys of ["one", "many"] as const) {
      // Issue 18 judges throughput at 32 and 64 connections (chat only at 32, to keep the run short).
      for (const connections of route === "chat" ? [1, 32, 64] : [1, 64]) {
        out.push({
          id: `${route}_${keys === "one" ? "1key" : "1000keys"}_c${connections}`,
          path,
          stream: false,
          chunks: PLAIN_CHUNKS,
          delayMs: 0,
          keys,
          connections,
        });
      }
    }
  }
  for (const path of ["/api/chat", "/v1/chat/completions"] as const) {
    const route = path === "/api/chat" ? "chat_stream50" : "openai_stream50_usage";
    for (const connections of [1, 64]) {
      out.push({
        id: `${route}_c${connections}`,
        path,
        stream: true,
        chunks: 50,
        delayMs: 0,
        keys: "many",
        connections,
        ttfc: connections === 1,
      });
    }
  }
  // With the 50-chunk run, gives the CPU cost of one forwarded chunk.
  out.push({
    id: "chat_stream5_c64",
    path: "/api/chat",
    stream: true,
    chunks: 5,
    delayMs: 0,
    keys: "many",
    connections: 64,
  });
  const pgIds = { one: "1key", many: "1000keys", hundred: "100keys" } as const;
  for (
    const [keys, connections] of [["one", 32], ["one", 64], ["many", 32], ["many", 64]] as const
  ) {
    out.push({
      id: `pg_chat_${pgIds[keys]}_c${connections}`,
      path: "/api/chat",
      stream: false,
      chunks: PLAIN_CHUNKS,
      delayMs: 0,
      keys,
      connections,
      pgOnly: true,
    });
  }
  return out;
}

/** The soak: 1,000 concurrent slow streams (50 chunks, 100 ms apart: 5 s each). */
export const SOAK: Scenario = {
  id: "soak_1000_streams",
  path: "/api/chat",
  stream: true,
  chunks: 50,
  delayMs: 100,
  keys: "many",
  connections: 1000,
};

/** PostgreSQL scale-out: 100 keys, 64 connections, on one gateway process and then on two. */
export const SCALE_OUT: Scenario = {
  id: "pg_scaleout_100keys_c64",
  path: "/api/chat",
  stream: false,
  chunks: PLAIN_CHUNKS,
  delayMs: 0,
  keys: "hundred",
  connections: 64,
  pgOnly: true,
};
