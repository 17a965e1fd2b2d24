/**
 * Percentiles from the rollups' fixed latency histograms: exact to the bucket over any range,
 * because histograms add up where averaged percentiles do not.
 * @module
 */
import { LATENCY_BUCKETS_MS } from "./types.ts";

/**
 * The latency below which a share `q` (0 < q ≤ 1) of the counted requests finished: the upper
 * bound (ms) of the bucket that holds the q-th request; Infinity when it is in the last bucket
 * (above the highest bound); null when the histogram counts nothing.
 */
export function histogramPercentile(
  hist: readonly number[],
  q: number,
  bounds: readonly number[] = LATENCY_BUCKETS_MS,
): number | null {
  if (!(q > 0 && q <= 1)) throw new RangeError(`percentile share must be in (0, 1], got ${q}`);
  const total = hist.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  // The rank of the request the percentile names (nearest-rank: the ceil of q × total).
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i];
    if (seen >= rank) return i < bounds.length ? bounds[i] : Infinity;
  }
  return Infinity;
}

/** Adds histograms bucket by bucket (rows of different groups into one). */
export function addHistograms(hists: ReadonlyArray<readonly number[]>): number[] {
  const sum = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  for (const h of hists) h.forEach((n, i) => sum[i] = (sum[i] ?? 0) + n);
  return sum;
}
