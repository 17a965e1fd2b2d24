/**
 * Two gateway processes on one PostgreSQL database share each Ollama box's max_in_flight: the
 * in-flight requests per box are lease rows every instance counts, released when a request ends
 * and by the other instance when a gateway dies.
 * @module
 */
import assert from "node:assert/strict";
import { createTestDatabase, testDialects } from "../support/databases.ts";
import { ADMIN_PASSWORD } from "../support/gateway.ts";
import { type MockOllama, startMockOllama } from "../support/mock_ollama.ts";
import { type GatewayProcess, spawnGateway } from "../support/processes.ts";
import { until } from "../support/several_boxes.ts";
import { rawQuery } from "../support/raw_query.ts";

/** A box in front of a mock that counts the generations it runs at once. */
interface CountingBox {
  url: string;
  /** Generations running now, and the most seen at once. */
  active: number;
  most: number;
  /** Generations that reached the box. */
  total: number;
  /** While set, a generation is held (not passed on) until it is cleared or its client leaves. */
  hold: boolean;
  close(): Promise<void>;
}

function countingBox(mock: MockOllama): CountingBox {
  const box: CountingBox = {
    url: "",
    active: 0,
    most: 0,
    total: 0,
    hold: false,
    close: async () => {
      await server.shutdown();
    },
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const generation = url.pathname === "/api/chat";
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.text();
    if (!generation) {
      return await fetch(mock.url + url.pathname, { method: req.method, body });
    }
    box.total++;
    box.active++;
    box.most = Math.max(box.most, box.active);
    try {
      while (box.hold && !req.signal.aborted) await new Promise((r) => setTimeout(r, 20));
      const res = await fetch(mock.url + url.pathname, {
        method: "POST",
        body,
        signal: req.signal,
      });
      // Held until the whole answer is read: the box works until then.
      const bytes = await res.arrayBuffer();
      return new Response(bytes, { status: res.status, headers: res.headers });
    } catch {
      return new Response(null, { status: 499 });
    } finally {
      box.active--;
    }
  });
  box.url = `http://127.0.0.1:${server.addr.port}`;
  return box;
}

const chat = JSON.stringify({
  model: "llama3",
  stream: false,
  messages: [{ role: "user", content: "hi" }],
});

async function admin(g: GatewayProcess, path: string, init: RequestInit = {}) {
  return await fetch(g.adminUrl + path, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN_PASSWORD}`, "content-type": "application/json" },
  });
}

async function keyOn(g: GatewayProcess): Promise<string> {
  const res = await admin(g, "/api/api-keys", {
    method: "POST",
    body: JSON.stringify({ name: "k" }),
  });
  return (await res.json()).key;
}

if (testDialects().includes("postgres")) {
  Deno.test(
    "[postgres] two gateway processes never send a box more than its max_in_flight together",
    async () => {
      const db = await createTestDatabase("postgres");
      const mocks = [
        await startMockOllama({ chunks: 4, chunkDelayMs: 40 }),
        await startMockOllama({ chunks: 4, chunkDelayMs: 40 }),
      ];
      const boxes = mocks.map(countingBox);
      const gateways: GatewayProcess[] = [];
      try {
        // Two boxes from OLLAMA_URL: max_in_flight 1 each.
        for (let i = 0; i < 2; i++) {
          gateways.push(
            await spawnGateway({
              DATABASE_URL: db.url,
              OLLAMA_URL: boxes.map((b) => b.url).join(","),
              LOG_LEVEL: "warn",
            }),
          );
        }
        const key = await keyOn(gateways[0]);
        // Both gateways probed both boxes (their tags say where llama3 is).
        for (const g of gateways) {
          await until(async () => {
            const list = await (await admin(g, "/api/upstreams")).json();
            return list.every((b: { models: string[] | null }) => b.models !== null);
          }, "the boxes to be probed");
        }
        const statuses = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
          const res = await fetch(gateways[i % 2].proxyUrl + "/api/chat", {
            method: "POST",
            headers: { authorization: `Bearer ${key}` },
            body: chat,
          });
          await res.body?.cancel();
          return res.status;
        }));
        assert.deepEqual(statuses, Array(12).fill(200));
        assert.deepEqual(boxes.map((b) => b.most), [1, 1], "never two at once on a box");
        assert.equal(boxes[0].total + boxes[1].total, 12);
      } finally {
        for (const g of gateways) assert.equal(await g.stop(), 0, g.output());
        for (const b of boxes) await b.close();
        for (const m of mocks) await m.close();
        await db.drop();
      }
    },
  );

  Deno.test(
    "[postgres] a gateway that dies mid-request frees its box's slot for the other instance",
    async () => {
      const db = await createTestDatabase("postgres");
      const mock = await startMockOllama();
      const box = countingBox(mock);
      const env = {
        DATABASE_URL: db.url,
        OLLAMA_URL: box.url,
        LOG_LEVEL: "warn",
        HEARTBEAT_SECONDS: "1",
        QUEUE_TIMEOUT_SECONDS: "30",
      };
      const gateways: GatewayProcess[] = [];
      try {
        gateways.push(await spawnGateway(env), await spawnGateway(env));
        const [doomed, survivor] = gateways;
        const key = await keyOn(doomed);
        const [row] = await (await admin(doomed, "/api/upstreams")).json();
        const patched = await admin(doomed, `/api/upstreams/${row.id}`, {
          method: "PATCH",
          body: JSON.stringify({ max_in_flight: 1 }),
        });
        assert.equal(patched.status, 200);
        await patched.body?.cancel();
        await until(async () => {
          const [seen] = await (await admin(survivor, "/api/upstreams")).json();
          return seen.max_in_flight === 1;
        }, "the other instance to see the limit");
        // The doomed gateway's request holds the box's one slot, then the process dies.
        box.hold = true;
        const held = fetch(doomed.proxyUrl + "/api/chat", {
          method: "POST",
          headers: { authorization: `Bearer ${key}` },
          body: chat,
        }).catch(() => null);
        await until(() => box.active === 1, "the doomed request to reach the box");
        // The other instance sees it in flight on the box.
        await until(async () => {
          const [seen] = await (await admin(survivor, "/api/upstreams")).json();
          return seen.in_flight === 1;
        }, "the survivor to count the other's request");
        doomed.kill();
        await held;
        await until(() => box.active === 0, "the box to see the request gone");
        box.hold = false;
        const leases = async () =>
          Number(
            (await rawQuery("postgres", db.url, "SELECT count(*) AS n FROM upstream_leases"))[0].n,
          );
        const holders = async () =>
          (await rawQuery("postgres", db.url, "SELECT instance_id FROM upstream_leases")).map((
            r,
          ) => String(r.instance_id));
        const [dead, ...others] = await holders();
        assert.deepEqual(others, [], "the dead gateway's lease is still there, alone");
        // Its lease is still counted until the survivor finds the gateway silent and releases
        // it; the survivor's request waits in the queue meanwhile, then gets the box.
        const answer = fetch(survivor.proxyUrl + "/api/chat", {
          method: "POST",
          headers: { authorization: `Bearer ${key}` },
          body: chat,
        });
        await until(() => box.total === 2, "the survivor's request to reach the box");
        assert.ok(!(await holders()).includes(dead), "it reached the box only once freed");
        const res = await answer;
        assert.equal(res.status, 200, await res.text());
        await until(async () => await leases() === 0, "the leases to be released and given back");
      } finally {
        gateways[0]?.kill();
        assert.equal(await gateways[1]?.stop(), 0, gateways[1]?.output());
        await gateways[0]?.stop();
        await box.close();
        await mock.close();
        await db.drop();
      }
    },
  );

  Deno.test(
    "[postgres] a gateway stopped with SIGTERM while a request holds a lease leaves no lease row",
    async () => {
      const db = await createTestDatabase("postgres");
      const mock = await startMockOllama();
      const box = countingBox(mock);
      const leases = async () =>
        Number(
          (await rawQuery("postgres", db.url, "SELECT count(*) AS n FROM upstream_leases"))[0].n,
        );
      let gateway: GatewayProcess | undefined;
      try {
        gateway = await spawnGateway({
          DATABASE_URL: db.url,
          OLLAMA_URL: box.url,
          LOG_LEVEL: "warn",
          SHUTDOWN_GRACE_SECONDS: "20",
        });
        const g = gateway;
        const key = await keyOn(g);
        const [row] = await (await admin(g, "/api/upstreams")).json();
        const patched = await admin(g, `/api/upstreams/${row.id}`, {
          method: "PATCH",
          body: JSON.stringify({ max_in_flight: 1 }),
        });
        assert.equal(patched.status, 200);
        await patched.body?.cancel();
        box.hold = true;
        const held = fetch(g.proxyUrl + "/api/chat", {
          method: "POST",
          headers: { authorization: `Bearer ${key}` },
          body: chat,
        }).then(async (res) => [res.status, await res.text()] as const);
        await until(() => box.active === 1, "the request to reach the box");
        assert.equal(await leases(), 1, "the request holds a lease");
        // The database refuses the first release (as when it is away for a moment): the lease
        // must still be gone once the gateway stopped, with no other instance to free it.
        const sql = (q: string) => rawQuery("postgres", db.url, q);
        await sql("CREATE SEQUENCE test_lease_refusals");
        await sql(
          `CREATE FUNCTION test_refuse_first_release() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF nextval('test_lease_refusals') = 1 THEN
              RAISE EXCEPTION 'test: the database refuses this release';
            END IF;
            RETURN OLD;
          END $$`,
        );
        await sql(`CREATE TRIGGER test_refuse_first_release BEFORE DELETE ON upstream_leases
          FOR EACH ROW EXECUTE FUNCTION test_refuse_first_release()`);
        // SIGTERM while it runs; it finishes within the grace period, then the gateway exits.
        const stopped = g.stop();
        await until(() => g.output().includes("Shutting down"), "the gateway to start stopping");
        box.hold = false;
        const [status, body] = await held;
        assert.equal(status, 200, body);
        assert.equal(await stopped, 0, g.output());
        assert.match(g.output(), /the database refuses this release/, "the release failed once");
        assert.equal(await leases(), 0, "a clean stop leaves no lease behind");
      } finally {
        gateway?.kill();
        await box.close();
        await mock.close();
        await db.drop();
      }
    },
  );
}

if (testDialects().includes("postgres")) {
  Deno.test(
    "[postgres] a box added on one instance serves requests on the other within seconds",
    async () => {
      const db = await createTestDatabase("postgres");
      const first = await startMockOllama({ models: ["llama3:latest"] });
      const added = await startMockOllama({ models: ["qwen3:8b"] });
      const gateways: GatewayProcess[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          gateways.push(
            await spawnGateway({ DATABASE_URL: db.url, OLLAMA_URL: first.url, LOG_LEVEL: "warn" }),
          );
        }
        const [a, b] = gateways;
        const key = await keyOn(a);
        const ask = async () => {
          const res = await fetch(b.proxyUrl + "/api/chat", {
            method: "POST",
            headers: { authorization: `Bearer ${key}` },
            body: JSON.stringify({ model: "qwen3:8b", messages: [], stream: false }),
          });
          await res.body?.cancel();
          return res.status;
        };
        // The lone box on b does not have it: Ollama's own 404 passes through.
        assert.equal(await ask(), 404);
        const res = await admin(a, "/api/upstreams", {
          method: "POST",
          body: JSON.stringify({ name: "qwen-box", url: added.url }),
        });
        assert.equal(res.status, 201);
        await res.body?.cancel();
        // No restart of b: it reads the boxes again, probes the new one, and routes to it.
        await until(async () => await ask() === 200, "b to route to the new box");
        assert.equal(added.inferenceCount(), 1);
      } finally {
        for (const g of gateways) assert.equal(await g.stop(), 0, g.output());
        await first.close();
        await added.close();
        await db.drop();
      }
    },
  );
}
