# syntax=docker/dockerfile:1
# One image with every Shop binary: the five services, the broker, mqctl and shop
# (the launcher, audit and scenarios, from services/shop).
# docker-compose.yml picks the binary with `command:`.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# mq-bench (the broker-vs-peers benchmark) and shop-load (the confirm-order load
# program) are development tools and are not shipped.
# Migrations are embedded at compile time (sqlx::migrate!), so the runtime image
# needs only the binaries.
# Both buses are built in, so the image runs on either by configuration alone
# (SHOP_BUS): shop-kit's feature rocketmq is the services' RocketMQ backend (every
# service links shop-kit, and one build compiles it once, with its features), shop's
# is the same for `shop` itself (`shop up --bus rocketmq`, scenarios on RocketMQ).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --exclude mq-bench --exclude shop-load --bins \
        --features shop-kit/rocketmq,shop/rocketmq \
 && mkdir -p /out \
 && cp target/release/order-svc target/release/goods-svc target/release/coupon-svc \
       target/release/user-svc target/release/pay-svc \
       target/release/mq-broker target/release/mqctl target/release/shop /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data shop \
 && mkdir -p /data/mq \
 && chown -R shop /data
COPY --from=build /out/ /usr/local/bin/
USER shop
WORKDIR /data
EXPOSE 8081 8082 8083 8084 8085 9876 9877
CMD ["shop", "--help"]
