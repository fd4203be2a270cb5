# The `hearsay` binary in a small image. Build from the repository root:
#
#   docker build -t hearsay .
#
# The image runs `hearsay node --stay` (no stdin in a container: it runs until SIGTERM, which
# `docker stop` sends and which makes the node leave the cluster gracefully). Give it its
# settings with `--config FILE` or flags; `deploy/compose/` is a three-node example and
# docs/operations.md explains it.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p hearsay-cli \
    && install -m 0755 target/release/hearsay /usr/local/bin/hearsay

FROM debian:bookworm-slim
# curl: for health checks of the admin listener (`curl -fsS http://127.0.0.1:9090/health`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin hearsay
COPY --from=build /usr/local/bin/hearsay /usr/local/bin/hearsay
USER hearsay
# Gossip (UDP by default; TCP with transport = "stream") and the admin listener.
EXPOSE 7000/udp 7000/tcp 9090/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["hearsay", "node", "--stay"]
CMD ["--config", "/etc/hearsay/node.toml"]
