import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry } from "../../ops/metrics.ts";
import { parsePrometheus, valueOf } from "./prometheus_text.ts";

Deno.test("the registry renders HELP, TYPE and samples in Prometheus text format", () => {
  const r = new Registry();
  const c = r.register(new Counter("demo_total", "A demo counter.", ["route", "status"]));
  const g = r.register(new Gauge("demo_in_flight", "A demo gauge."));
  c.labels("/api/chat", "200").inc();
  c.labels("/api/chat", "200").inc(2);
  g.labels().inc();
  g.labels().inc();
  g.labels().dec();
  assert.equal(
    r.render(),
    [
      "# HELP demo_total A demo counter.",
      "# TYPE demo_total counter",
      'demo_total{route="/api/chat",status="200"} 3',
      "# HELP demo_in_flight A demo gauge.",
      "# TYPE demo_in_flight gauge",
      "demo_in_flight 1",
      "",
    ].join("\n"),
  );
});

Deno.test("label values are escaped, so any key name stays one valid sample", () => {
  const r = new Registry();
  const c = r.register(new Counter("named_total", "Per name.", ["key"]));
  const nasty = 'back\\slash "quoted"\nnew line';
  c.labels(nasty).inc();
  const text = r.render();
  assert.ok(text.includes('named_total{key="back\\\\slash \\"quoted\\"\\nnew line"} 1'), text);
  assert.equal(valueOf(parsePrometheus(text), "named_total", { key: nasty }), 1);
});

Deno.test("histogram buckets are cumulative and end in +Inf, with sum and count", () => {
  const r = new Registry();
  const h = r.register(new Histogram("lat_seconds", "Latency.", ["route"], [0.1, 1, 0.5]));
  for (const v of [0.05, 0.1, 0.3, 2]) h.labels("/x").observe(v);
  const m = parsePrometheus(r.render());
  const bucket = (le: string) => valueOf(m, "lat_seconds_bucket", { route: "/x", le });
  assert.equal(bucket("0.1"), 2, "an observation equal to a bound falls in that bucket");
  assert.equal(bucket("0.5"), 3);
  assert.equal(bucket("1"), 3);
  assert.equal(bucket("+Inf"), 4);
  assert.equal(valueOf(m, "lat_seconds_count", { route: "/x" }), 4);
  assert.equal(valueOf(m, "lat_seconds_sum", { route: "/x" }), 2.45);
});

Deno.test("a counter never goes down and a metric name is registered once", () => {
  const r = new Registry();
  const c = r.register(new Counter("once_total", "Once."));
  c.labels().inc(5);
  c.labels().inc(-3);
  assert.equal(c.labels().value, 5);
  assert.throws(() => r.register(new Counter("once_total", "Again.")), /registered twice/);
  assert.throws(() => c.labels("extra"), /takes 0 label values/);
});
