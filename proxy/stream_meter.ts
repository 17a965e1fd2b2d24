/**
 * Stream meters: each watches a streamed answer as it passes, counts content chunks, reads the
 * usage in the final line or event, tells how the stream ended, and knows the error frame its
 * clients raise on. One file per format in `stream_meters/`; this module names them all and
 * picks the one a route's stream needs.
 * @module
 */
import type { InferenceRoute } from "./routes.ts";
import type { StreamMeter } from "./stream_meters/meter.ts";
import { NamedEventMeter } from "./stream_meters/named_events.ts";
import { NdjsonMeter } from "./stream_meters/ndjson.ts";
import { SseMeter } from "./stream_meters/sse.ts";
import { SseStrippingMeter } from "./stream_meters/sse_stripping.ts";

export type { StreamFailure, StreamMeter } from "./stream_meters/meter.ts";
export type { StreamUsage } from "./usage.ts";
export { type EventDialect, NamedEventMeter } from "./stream_meters/named_events.ts";
export { NdjsonMeter } from "./stream_meters/ndjson.ts";
export { SseMeter } from "./stream_meters/sse.ts";
export { SseStrippingMeter } from "./stream_meters/sse_stripping.ts";

/**
 * The meter for a streamed answer on `route`: named events on `/v1/messages` and
 * `/v1/responses`, OpenAI SSE (stripped of the usage the gateway asked for when `strip`), or
 * native NDJSON — by the upstream's content type, as Ollama answers NDJSON where it does.
 */
export function meterFor(route: InferenceRoute, contentType: string, strip: boolean): StreamMeter {
  if (route.format === "events") {
    return new NamedEventMeter(route.family === "anthropic" ? "anthropic" : "responses");
  }
  if (contentType.includes("event-stream")) return strip ? new SseStrippingMeter() : new SseMeter();
  return new NdjsonMeter();
}
