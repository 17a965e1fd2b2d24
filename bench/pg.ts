/**
 * The benchmark's own PostgreSQL database: created for the run and dropped after it.
 * @module
 */
import postgres from "postgres";

/** Creates `llmq_bench_<pid>_<time>` on the server at `base`; returns its name and URL. */
export async function createBenchDatabase(base: string): Promise<{ name: string; url: string }> {
  const name = `llmq_bench_${Deno.pid}_${Date.now()}`;
  const sql = postgres(`${base}/postgres`, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await sql.end();
  }
  return { name, url: `${base}/${name}` };
}

/** Drops the benchmark's database (after the gateway using it has stopped). */
export async function dropBenchDatabase(base: string, name: string): Promise<void> {
  const sql = postgres(`${base}/postgres`, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await sql.end();
  }
}
