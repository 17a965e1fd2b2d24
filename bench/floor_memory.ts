/**
 * bench/floor_proxy.ts sampling its memory once a second (bench/memory_sampler.ts), for
 * bench/soak_memory.ts `--target=floor`.
 * @module
 */
import { sampleMemory } from "./memory_sampler.ts";

sampleMemory();
await import("./floor_proxy.ts");
