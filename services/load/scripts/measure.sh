#!/usr/bin/env bash
# One measured run of the system, alone on a MariaDB and a Redis of its own, so that the
# server's status counters and its CPU are the shop's only (docs/performance.md):
#
#   services/load/scripts/measure.sh <dir with shop and shop-load> <label> [shop-load args…]
#   services/load/scripts/measure.sh target/release base --clients 64 --duration 10s
#   services/load/scripts/measure.sh target/release count --count 300 --users 100 --items 1
#   MARIADB_EXTRA=--thread-handling=pool-of-threads services/load/scripts/measure.sh …
#
# A fresh MariaDB data directory on port 3407 (MariaDB's defaults: durable commits,
# innodb_flush_log_at_trx_commit=1), Redis on 16379, `shop up --external` on ports
# 18081-18085 and 19876/19877; shop-load's output goes to $OUT_DIR/<label>.txt
# (default /tmp/shop-measure) and to stdout.
set -u
BIN=$(cd "$1" && pwd); LABEL=$2; shift 2
OUT_DIR=${OUT_DIR:-/tmp/shop-measure}
WORK=$OUT_DIR/$LABEL
mkdir -p "$OUT_DIR"; rm -rf "$WORK"; mkdir -p "$WORK/data" "$WORK/shop"

mariadb-install-db --no-defaults --user="$(id -un)" --auth-root-authentication-method=normal \
  --datadir="$WORK/data" >"$WORK/install.log" 2>&1
# shellcheck disable=SC2086 # MARIADB_EXTRA holds several options
mariadbd --no-defaults --user="$(id -un)" --datadir="$WORK/data" --port=3407 \
  --bind-address=127.0.0.1 --socket="$WORK/sock" --pid-file="$WORK/pid" \
  --max-connections=2000 --table-definition-cache=4000 ${MARIADB_EXTRA:-} >"$WORK/mariadb.log" 2>&1 &
redis-server --port 16379 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --logfile "$WORK/redis.log" >/dev/null
stop_servers() {
  mariadb -S "$WORK/sock" -uroot -e shutdown 2>/dev/null
  redis-cli -p 16379 shutdown nosave >/dev/null 2>&1
}
trap stop_servers EXIT
for _ in $(seq 150); do
  mariadb --protocol=tcp -h127.0.0.1 -P3407 -uroot -e 'select 1' >/dev/null 2>&1 && break
  sleep 0.2
done

export SHOP_MYSQL_URL=mysql://root@127.0.0.1:3407 REDIS_URL=redis://127.0.0.1:16379 \
  MQ_ADDR=127.0.0.1:19876 MQ_ADMIN_ADDR=127.0.0.1:19877 \
  ORDER_SVC_URL=http://127.0.0.1:18081 GOODS_SVC_URL=http://127.0.0.1:18082 \
  COUPON_SVC_URL=http://127.0.0.1:18083 USER_SVC_URL=http://127.0.0.1:18084 \
  PAY_SVC_URL=http://127.0.0.1:18085 SHOP_DATA_DIR="$WORK/shop"
"$BIN/shop" up --no-seed --external >"$WORK/up.log" 2>&1 &
UP=$!
healthy() {
  for port in 18081 18082 18083 18084 18085; do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null || return 1
  done
}
for _ in $(seq 240); do healthy && break; sleep 0.5; done
healthy || { echo "the system did not come to health; see $WORK/up.log" >&2; kill -INT $UP; exit 1; }

{
  echo "# $LABEL $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)${MARIADB_EXTRA:+, MariaDB $MARIADB_EXTRA}"
  "$BIN/shop-load" "$@" 2>&1
} | tee "$OUT_DIR/$LABEL.txt"
kill -INT $UP
wait $UP
