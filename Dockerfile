# syntax=docker/dockerfile:1
# offerd container image.
#
#   docker build -t offerd .
#   docker run --rm -p 8080:8080 offerd                       # demo artifact, on-device
#   docker run --rm -p 8080:8080 -v $PWD/my-config.toml:/etc/offerd/config.toml:ro offerd
#
# Config layering is defaults < config file < OFFERD_* env < flags, and this image sets
# OFFERD_SERVER__BIND below (a container must listen on every interface): a mounted
# config's `server.bind` is overridden by it, so change the port with `-e OFFERD_SERVER__BIND`.
# offerd drains notifications on SIGTERM within `server.shutdown_grace_secs` (10 s):
# give `docker stop` a little more (`-t 15`).

# --- build -------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole workspace: the root manifest names `loadtest` as a member and `benches/engine`
# as a bench target, so both must be present for cargo to read it.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY loadtest ./loadtest
# The demo artifact is compiled into the binary (include_str! in src/upstream/artifact_source.rs).
COPY examples/demo-artifact.json ./examples/demo-artifact.json
# Cache mounts keep the registry and target dir between builds (BuildKit); the binary is
# copied out of the cached target dir so the next stage can take it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p offerd \
    && cp target/release/offerd /usr/local/bin/offerd

# --- run ---------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 offerd \
    && useradd --system --uid 10001 --gid offerd --no-create-home --shell /usr/sbin/nologin offerd
COPY --from=build /usr/local/bin/offerd /usr/local/bin/offerd
COPY config.toml /etc/offerd/config.toml
COPY examples /usr/share/offerd/examples
# The notification spool: owed notifications survive a crash or a kill -9 here. Mount a
# volume on it (a Kubernetes PVC, or an emptyDir to survive container restarts only).
RUN mkdir -p /var/lib/offerd/spool && chown 10001:10001 /var/lib/offerd/spool
VOLUME /var/lib/offerd/spool
# Relative paths in a config (like `examples/demo-artifact.json`) resolve here; the default
# artifact, `embedded:demo`, is compiled in.
WORKDIR /usr/share/offerd
ENV OFFERD_SERVER__BIND=0.0.0.0:8080 \
    OFFERD_SPOOL__DIR=/var/lib/offerd/spool \
    OFFERD_LOG__FORMAT=json
USER 10001:10001
EXPOSE 8080
# `offerd ready` asks the configured bind address (whatever OFFERD_SERVER__BIND says) for
# /health/ready and exits 0 or 1: no shell, no curl. OCI-format builds drop HEALTHCHECK
# (build with `docker build` or `buildah bud --format docker`); Kubernetes uses its own
# probes (deploy/).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/offerd", "--config", "/etc/offerd/config.toml", "ready"]
ENTRYPOINT ["/usr/local/bin/offerd", "--config", "/etc/offerd/config.toml"]
CMD ["serve"]
