/**
 * The gateway as main.ts starts it, plus a heap snapshot on SIGUSR2 (node:v8
 * writeHeapSnapshot, into HEAP_DIR) for bench/heap.ts. Not the inspector: with an inspector
 * attached, Deno's fetch tees every response body for its network panel, which doubles what a
 * stream holds.
 * @module
 */
import v8 from "node:v8";
import { parseConfig } from "../core/config.ts";
import { startGateway } from "../main.ts";
import { sampleMemory } from "./memory_sampler.ts";

const gateway = await startGateway(parseConfig(Deno.env.toObject()));
console.error(`proxy listening on ${gateway.proxyUrl}`);
console.error(`admin listening on ${gateway.adminUrl}`);
// Once a second, what the process holds by kind (bench/soak_memory.ts reads these lines).
sampleMemory();
let n = 0;
Deno.addSignalListener("SIGUSR2", () => {
  const path = v8.writeHeapSnapshot(`${Deno.env.get("HEAP_DIR") ?? "."}/${++n}.heapsnapshot`);
  console.error(`heap snapshot ${path}`);
});
Deno.addSignalListener("SIGTERM", async () => {
  await gateway.close(1);
  Deno.exit(0);
});
