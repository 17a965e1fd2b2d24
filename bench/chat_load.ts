/**
 * The load the one-gateway tools (gc_pauses, allocations, threads, callgrind, heap) put on a
 * gateway: keys created through its admin API, an `/api/chat` body (non-streamed unless told),
 * and wrk on the load core.
 * @module
 */
import { createKeys } from "./admin_client.ts";
import { bodyOf } from "./scenarios.ts";
import type { GatewayTarget } from "./servers.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

/** wrk against the gateway with `connections` for `seconds`. */
export type ChatLoad = (connections: number, seconds: number) => Promise<WrkResult>;

/** What the mock answers: a stream or not, how many chunks, how far apart (ms). */
export type ChatAnswer = { stream: boolean; chunks: number; delayMs: number };

/** Creates `keyCount` keys named after `prefix` on `gw`, writes them and the body to `dir`. */
export async function chatLoad(
  dir: string,
  gw: GatewayTarget,
  keyCount: number,
  prefix: string,
  answer: ChatAnswer = { stream: false, chunks: 10, delayMs: 0 },
): Promise<ChatLoad> {
  const keys = await createKeys(gw.adminUrl, keyCount, prefix);
  const keysFile = `${dir}/keys.txt`;
  await Deno.writeTextFile(keysFile, keys.join("\n") + "\n");
  const bodyFile = `${dir}/body.json`;
  await Deno.writeTextFile(bodyFile, bodyOf({ path: "/api/chat", ...answer }));
  return (connections, seconds) =>
    runWrk({
      url: gw.url,
      path: "/api/chat",
      bodyFile,
      keysFile,
      connections,
      seconds,
      cores: "1",
    });
}
