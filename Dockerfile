# syntax=docker/dockerfile:1
# llm-quota image: both listeners, SQLite in the /app/data volume or PostgreSQL via DATABASE_URL.
# No Docker engine runs on our machines: tests/ops/container_test.ts checks this file's structure
# and starts a gateway from exactly the files and command below. See README, "Docker".

ARG DENO_VERSION=2.9.6

# 1. Dependencies, from the manifest and the lock file only: this layer is rebuilt only when
#    they change. --frozen fails the build if deno.lock does not match deno.json.
FROM denoland/deno:${DENO_VERSION} AS deps
WORKDIR /app
COPY deno.json deno.lock ./
RUN deno install --frozen

# 2. The sources the server, the key CLI and the health check load; type-checked here so a
#    broken build never becomes an image.
FROM deps AS build
COPY main.ts deps.ts ./
COPY core/ core/
COPY db/ db/
COPY ops/ ops/
COPY proxy/ proxy/
COPY admin/ admin/
COPY views/ views/
COPY static/ static/
COPY tools/healthcheck.ts tools/healthcheck.ts
RUN deno check --frozen main.ts admin/cli.ts tools/healthcheck.ts

# 3. Runtime: the official Deno image (tini as PID 1, user "deno" uid 1993), the app read-only
#    for that user, the dependency cache, and nothing fetched at start (--cached-only).
FROM denoland/deno:${DENO_VERSION} AS runtime
WORKDIR /app
ENV DENO_DIR=/deno-dir \
    PROXY_HOST=0.0.0.0 \
    PROXY_PORT=8000 \
    ADMIN_HOST=0.0.0.0 \
    ADMIN_PORT=8001 \
    DATABASE_URL=sqlite:////app/data/llm-quota.db
COPY --from=build --chown=deno:deno /deno-dir /deno-dir
COPY --from=build /app /app
RUN mkdir -p /app/data && chown deno:deno /app/data
USER deno
VOLUME /app/data
# 8000: clients. 8001: the admin listener, on 0.0.0.0 only so Docker can forward it; never
# publish it to a network (see README): -p 127.0.0.1:8001:8001 at most.
EXPOSE 8000 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["deno", "run", "--cached-only", "--frozen", "--allow-net=127.0.0.1", "--allow-env=PROXY_PORT", "tools/healthcheck.ts"]
# --max-semi-space-size=8 caps V8's young generation at 16 MB (64 MB by default), so each
# scavenge is short (one-connection p99 11.7 -> 4.4 ms, bench/README.md); --heap-growing-percent=10
# keeps the old generation near the live set (1,000 streams: no slope) and
# --initial-old-space-size=64 keeps a small heap from a full GC every few MB; as `deno task start`.
CMD ["run", "--cached-only", "--frozen", "--v8-flags=--max-semi-space-size=8,--heap-growing-percent=10,--initial-old-space-size=64", "--allow-net", "--allow-env", "--allow-read", "--allow-write=/app/data", "--allow-sys", "main.ts"]
