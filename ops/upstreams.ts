/**
 * The gateway's Ollama boxes: the pool built from the `upstreams` table (through its cache),
 * with metrics per box, the in-flight counts shared by every instance on PostgreSQL (in this
 * process on SQLite, whose gateway is one process), its prober, and the two ways boxes come to
 * be without the admin's box page: seeding at the first start, and the one-box `ollama_url`.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Store } from "../core/store.ts";
import { UpstreamPool } from "../core/upstreams/pool.ts";
import { seedRows, singleUrlChange, singleUrlMeant } from "../core/upstreams/records.ts";
import { LocalSlots, type SlotLedger } from "../core/upstreams/slots.ts";
import { decodeSettings } from "../core/settings.ts";
import { keepCredentials } from "../core/redact.ts";
import { metricsOf } from "./gateway_metrics.ts";
import { upstreamMetrics } from "./upstream_metrics.ts";
import { UpstreamProber } from "./upstream_prober.ts";
import { UPSTREAMS_TTL_MS, UpstreamTable } from "./upstream_table.ts";
import { SharedSlots } from "./shared_slots.ts";

/** The cached `upstreams` table of the gateway, created in `deps` on first use. */
export function upstreamTableOf(deps: Deps): UpstreamTable {
  return deps.upstreamTable ??= new UpstreamTable(deps.store, deps.config.secretsKey);
}

/** The pool of the gateway, created in `deps` on first use. */
export function upstreamsOf(deps: Deps): UpstreamPool {
  if (deps.upstreams) return deps.upstreams;
  const table = upstreamTableOf(deps);
  const onError = (err: unknown) =>
    deps.log.warn("upstream pool: working around a failure", {
      error: (err as Error)?.message ?? String(err),
    });
  const shared = deps.store.takeUpstreamLease
    ? new SharedSlots(deps.store, deps.instanceId, onError)
    : null;
  const ledger: SlotLedger = shared ?? new LocalSlots();
  const pool = new UpstreamPool({
    source: () => table.configs(),
    ledger,
    queueMax: deps.config.queueMax,
    queueTimeoutMs: deps.config.queueTimeoutMs,
    observer: upstreamMetrics(metricsOf(deps)),
    onError,
  });
  if (shared) {
    // Another instance's release can free a slot a request here waits for.
    shared.onChange = () => pool.kick();
    sharedSlots.set(pool, shared);
  }
  return deps.upstreams = pool;
}

const sharedSlots = new WeakMap<UpstreamPool, SharedSlots>();

/**
 * Starts probing the gateway's boxes, reading the table again every UPSTREAMS_TTL_MS (so a
 * change made on another instance reaches this pool within seconds, requests or not) and, on
 * PostgreSQL, polling every instance's in-flight counts. Returns the function that stops it,
 * for when requests have ended: on PostgreSQL it also gives back this instance's leases.
 */
export function startUpstreamProbes(deps: Deps): () => Promise<void> {
  const pool = upstreamsOf(deps);
  const prober = new UpstreamProber(pool);
  prober.start();
  const shared = sharedSlots.get(pool);
  shared?.start();
  const timer = setInterval(() => pool.sync(), UPSTREAMS_TTL_MS);
  Deno.unrefTimer(timer);
  return async () => {
    clearInterval(timer);
    await prober.stop();
    await shared?.stop();
  };
}

/**
 * Creates the boxes on the first start with this table: one per URL of the stored `ollama_url`
 * setting, which is OLLAMA_URL on a fresh database and what the admin had set on an existing
 * one. Does nothing once done (even when every box was deleted since).
 */
export async function seedUpstreams(store: Store, at: string): Promise<boolean> {
  const { ollama_url } = decodeSettings(await store.getSettings());
  return await store.seedUpstreams(seedRows(ollama_url, at));
}

/**
 * Sets the Ollama URL of a one-box setup (the `ollama_url` setting of the settings API and
 * page): creates the box when there is none, changes its URL when there is one, and throws
 * SeveralUpstreams when there are several. The pool sees the change at once; callers store the
 * setting's text too (the URL returned: the stored one when `url` was its redacted form), so
 * the settings API reads as it was written.
 */
export async function setOllamaUrl(deps: Deps, url: string): Promise<string> {
  const at = new Date(deps.clock.now().epochMilliseconds).toISOString();
  const rows = await deps.store.listUpstreams();
  // With no box the Settings form shows the setting's URL (redacted): sent back so, it keeps
  // its credentials too.
  const meant = rows.length === 0
    ? keepCredentials(url, (await deps.settings.get()).ollama_url)
    : singleUrlMeant(rows, url);
  const change = singleUrlChange(rows, meant, at);
  if (change.kind === "create") await deps.store.createUpstream(change.row);
  else if (change.kind === "update") await deps.store.updateUpstream(change.id, change.patch);
  await upstreamsChanged(deps);
  return meant;
}

/** After a change to the table: this instance's pool takes it in at once (and probes). */
export async function upstreamsChanged(deps: Deps): Promise<void> {
  upstreamTableOf(deps).invalidate();
  await upstreamsOf(deps).sync();
}
