# Build stage: compile the release binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY static ./static
COPY examples ./examples
RUN cargo build --release --locked --bin quizcast

# Runtime stage: a slim image with just the binary.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 quizcast \
 && mkdir -p /data && chown quizcast:quizcast /data
COPY --from=build /src/target/release/quizcast /usr/local/bin/quizcast
USER quizcast
WORKDIR /home/quizcast
ENV QUIZCAST_ADDR=0.0.0.0:8080 \
    QUIZCAST_DB=/data/quizcast.db \
    RUST_LOG=info
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/quizcast"]
