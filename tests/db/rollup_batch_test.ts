import assert from "node:assert/strict";
import { RollupBatch, type RollupKey } from "../../db/rollup_rows.ts";

const base: RollupKey = {
  bucket: 1_000,
  keyId: 1,
  model: "llama3:latest",
  route: "/api/chat",
  groupId: 0,
  memberId: 0,
  upstream: "",
};

/** One variation per dimension of a rollup row. */
const variants: RollupKey[] = [
  { ...base, bucket: 2_000 },
  { ...base, keyId: 2 },
  { ...base, model: "qwen3:latest" },
  { ...base, route: "/v1/chat/completions" },
  { ...base, groupId: 7 },
  { ...base, memberId: 9 },
  { ...base, upstream: "gpu-1" },
];

Deno.test("a batch adds up increments of one row and keeps rows that differ in any dimension apart", () => {
  const batch = new RollupBatch();
  batch.add(base, [1, 2, 3]);
  batch.add({ ...base }, [10, 20, 30]);
  for (const v of variants) batch.add(v, [100, 0, 0]);
  assert.equal(batch.rows.size, 1 + variants.length);
  const sums = [...batch.rows.values()].map((r) => [r.key, r.inc]);
  assert.deepEqual(sums[0], [base, [11, 22, 33]]);
  for (const [i, v] of variants.entries()) assert.deepEqual(sums[i + 1], [v, [100, 0, 0]]);
});

Deno.test("merging a batch gives what adding its increments directly gives, and copies them", () => {
  const direct = new RollupBatch();
  const merged = new RollupBatch();
  const job = new RollupBatch();
  merged.add(base, [1, 1, 1]);
  direct.add(base, [1, 1, 1]);
  for (const v of [base, ...variants]) {
    job.add(v, [5, 6, 7]);
    direct.add(v, [5, 6, 7]);
  }
  merged.merge(job);
  assert.deepEqual([...merged.rows.values()], [...direct.rows.values()]);
  // The merged rows are the batch's own: adding to them leaves the job's untouched.
  merged.add(variants[0], [1, 0, 0]);
  assert.deepEqual(job.rows.get([...job.rows.keys()][1])!.inc, [5, 6, 7]);
});

Deno.test("the key-less rows add up every key's increments per bucket, model, route and box", () => {
  const batch = new RollupBatch();
  batch.add(base, [1, 0, 0]);
  batch.add({ ...base, keyId: 2, memberId: 3 }, [2, 0, 0]);
  batch.add({ ...base, model: "qwen3:latest" }, [4, 0, 0]);
  assert.deepEqual(batch.keyless().map((r) => [r.key.model, r.inc]), [
    ["llama3:latest", [3, 0, 0]],
    ["qwen3:latest", [4, 0, 0]],
  ]);
});
