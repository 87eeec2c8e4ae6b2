# syntax=docker/dockerfile:1
# Strata: build with the Rust image, run as a non-root user on a slim image.
#
# Both stages are Debian 13 (trixie): the binary runs on the glibc it was built against, and trixie's
# postgresql-client is 17, the compose file's server (pg_dump refuses to dump a server newer than itself;
# bookworm's client is 15). The clients are there for `strata backup` / `strata restore`.
FROM rust:1.95-slim-trixie AS build
WORKDIR /src
COPY . .
# BuildKit keeps the registry and target/ between builds; the binary is copied out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p strata \
 && strip target/release/strata \
 && cp target/release/strata /usr/local/bin/strata

FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client mariadb-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/strata strata \
 && install -d -o strata -g strata -m 0700 /var/lib/strata/data
COPY --from=build /usr/local/bin/strata /usr/local/bin/strata
WORKDIR /var/lib/strata
ENV STRATA_LISTEN=0.0.0.0:8080
EXPOSE 8080
# `serve` migrates before it listens: give a first start time before failures count.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["strata", "healthcheck"]
# A numeric user, so that orchestrators checking "runs as non-root" can tell without /etc/passwd.
USER 10001:10001
CMD ["strata", "serve"]
