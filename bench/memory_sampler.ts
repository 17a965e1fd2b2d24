/**
 * Logs what the process holds by kind once a second, as `memory <rss> <heapTotal> <heapUsed>
 * <external>` (bytes) on stderr, for bench/soak_memory.ts.
 * @module
 */

/** Starts the sampler (unref'd: it never keeps the process alive). */
export function sampleMemory(): void {
  const sampler = setInterval(() => {
    const m = Deno.memoryUsage();
    console.error(`memory ${m.rss} ${m.heapTotal} ${m.heapUsed} ${m.external}`);
  }, 1000);
  Deno.unrefTimer(sampler);
}
