# syntax=docker/dockerfile:1
# ferrobase as a container image: the release binary on Debian slim, run by an unprivileged user,
# with its data directory (/data) as a volume. README "Deploy" says how to build and run it.

ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# --- build --------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
# The caches keep downloaded crates and compiled dependencies between builds; the binary is
# copied out of the cached target directory before the step ends.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ferrobase \
    && install -D -m 0755 target/release/ferrobase /usr/local/bin/ferrobase

# --- run ----------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
# CA certificates for outgoing TLS (SMTP, S3, the image provider, amqps); nothing else is needed
# beside glibc. The user owns only the data directory. The package is not pinned: it follows
# Debian's updates of the trusted roots, and a pinned version stops building when they move on.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin ferrobase \
    && install -d -o ferrobase -g ferrobase -m 0750 /data
COPY --from=builder /usr/local/bin/ferrobase /usr/local/bin/ferrobase

USER 10001:10001
WORKDIR /data
ENV FERROBASE_BIND=0.0.0.0:8080 \
    FERROBASE_DATA_DIR=/data \
    FERROBASE_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["ferrobase", "health"]
ENTRYPOINT ["ferrobase"]
CMD ["serve"]
