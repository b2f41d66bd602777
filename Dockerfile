# event-grpc container image.
#
# The binary links glibc and libstdc++ (DuckDB through cgo), so the runtime
# base must be a glibc distribution with libstdc++6: Debian bookworm-slim by
# default (Alpine/musl and distroless/static will not run it;
# gcr.io/distroless/cc-debian12 would).
#
#   docker build -t event-grpc .                      build from source (needs the golang image)
#   docker run -p 8017:8017 -p 8019:8019 -v event-grpc-data:/data event-grpc
#
# Targets:
#   runtime (default)   compiles in BUILD_BASE, copies the binary into BASE
#   runtime-prebuilt    copies a binary built on the host (PREBUILT, a path in
#                       the build context): no Go image needed, as
#                       scripts/image.sh does on a machine without a registry
#
# Both bases are arguments so a machine with no registry can build from
# local images: --build-arg BASE=localhost/bookworm-min.
ARG BUILD_BASE=golang:1.26-bookworm
ARG BASE=debian:bookworm-slim

FROM ${BUILD_BASE} AS build
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# cgo links DuckDB's static library: the first build takes minutes.
RUN CGO_ENABLED=1 go build -trimpath -o /out/event-grpc ./cmd/event-grpc

FROM ${BASE} AS runtime-base
# ca-certificates: TLS to Sentry and the WebEngage API. The user owns
# nothing but /data.
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin event-grpc \
 && mkdir -p /data \
 && chown event-grpc:event-grpc /data \
 && chmod 0750 /data
# LISTEN_ADDR: listen on every interface inside the container (the port
# mapping decides what is reachable); the operator endpoints stay
# loopback-only unless QUERY_ALLOW_REMOTE and ADMIN_TOKEN say otherwise.
ENV DATA_DIR=/data \
    PORT=8017 \
    GIN_PORT=8019 \
    LISTEN_ADDR=0.0.0.0 \
    LOG_FORMAT=json
VOLUME ["/data"]
WORKDIR /data
# 8017 gRPC, 8019 HTTP (JSON ingest, Connect/gRPC-Web, /heartbeat, /metrics).
EXPOSE 8017 8019
# Readiness: /heartbeat is 200 only while serving (broker reachable, not
# draining). bash's /dev/tcp keeps curl out of the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${GIN_PORT} && printf 'GET /heartbeat HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [ \"$code\" = 200 ]"]
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/event-grpc"]
CMD ["serve"]

FROM runtime-base AS runtime-prebuilt
ARG PREBUILT=event-grpc
COPY --chmod=0755 ${PREBUILT} /usr/local/bin/event-grpc

FROM runtime-base AS runtime
COPY --from=build /out/event-grpc /usr/local/bin/event-grpc
