/**
 * A test gateway in front of several mock Ollamas on real ports (OLLAMA_URL names them all,
 * comma-separated), once per dialect like `gatewayTest`. A box can also be a port where nothing
 * listens, or a cuttable TCP path to a mock.
 * @module
 */
import type { UpstreamPool } from "../../core/upstreams/pool.ts";
import { testDialects } from "./databases.ts";
import { startTestGateway, type TestGateway } from "./gateway.ts";
import { type MockBehaviour, type MockOllama, startMockOllama } from "./mock_ollama.ts";
import { startTcpForwarder, type TcpForwarder } from "./tcp_forwarder.ts";

/** One box: a mock Ollama, a mock behind a cuttable TCP path, or a port nobody listens on. */
export type BoxSpec =
  | { mock: MockBehaviour; cuttable?: boolean; loaded?: string[] }
  | { refused: true };

/** What a several-boxes test gets. */
export interface BoxesTest {
  t: TestGateway;
  /** The mocks, by position in `boxes` (null for a refused port). */
  mocks: Array<MockOllama | null>;
  /** The TCP paths of cuttable boxes, by position. */
  paths: Array<TcpForwarder | null>;
  /** Each box's URL, by position (its id in the pool). */
  urls: string[];
  pool: UpstreamPool;
}

/** A port that refuses connections (it was free a moment ago). */
function refusedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Waits until `check` holds (polling; these are gateway tests, not unit tests). */
export async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Registers a test per dialect with the given boxes. Models listed in `loaded` are loaded on
 * their box before the gateway starts; the test begins once every running box has been probed.
 */
export function boxesTest(
  name: string,
  boxes: BoxSpec[],
  fn: (b: BoxesTest) => Promise<void>,
  env: Record<string, string> = {},
): void {
  for (const dialect of testDialects()) {
    Deno.test(`[${dialect}] ${name}`, async () => {
      const mocks: Array<MockOllama | null> = [];
      const paths: Array<TcpForwarder | null> = [];
      const urls: string[] = [];
      try {
        for (const spec of boxes) {
          if ("refused" in spec) {
            mocks.push(null);
            paths.push(null);
            urls.push(`http://127.0.0.1:${refusedPort()}`);
            continue;
          }
          const mock = await startMockOllama(spec.mock);
          for (const model of spec.loaded ?? []) {
            const res = await fetch(`${mock.url}/api/generate`, {
              method: "POST",
              body: JSON.stringify({ model, prompt: "", keep_alive: -1 }),
            });
            await res.body?.cancel();
          }
          mocks.push(mock);
          const path = spec.cuttable
            ? startTcpForwarder({ hostname: "127.0.0.1", port: mock.port })
            : null;
          paths.push(path);
          urls.push(path ? `http://127.0.0.1:${path.port}` : mock.url);
        }
        const t = await startTestGateway(dialect, { env: { OLLAMA_URL: urls.join(","), ...env } });
        try {
          const pool = t.gateway.deps.upstreams!;
          const probed = (i: number) => {
            const status = pool.status()[i];
            const loaded = (boxes[i] as { loaded?: string[] }).loaded ?? [];
            if (mocks[i] === null) return true;
            return status !== undefined &&
              (status.version !== null && status.models !== null &&
                status.loaded.length >= loaded.length);
          };
          await until(() => boxes.every((_, i) => probed(i)), "every box to be probed");
          for (const mock of mocks) mock?.requests.splice(0);
          await fn({ t, mocks, paths, urls, pool });
        } finally {
          await t.close();
        }
      } finally {
        for (const path of paths) path?.close();
        for (const mock of mocks) await mock?.close();
      }
    });
  }
}
