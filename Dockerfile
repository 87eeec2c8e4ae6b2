# Strata: build with the Rust image, run as a non-root user on a slim image.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p strata && strip target/release/strata

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client mariadb-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/strata strata
COPY --from=build /src/target/release/strata /usr/local/bin/strata
USER strata
WORKDIR /var/lib/strata
ENV STRATA_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["strata", "healthcheck"]
CMD ["strata", "serve"]
