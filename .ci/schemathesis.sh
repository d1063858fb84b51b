#!/usr/bin/env bash
# Property-based run of schemathesis (PyPI, 4.x) over every service's /openapi.json
# with all its checks and real ids (see .ci/fuzz_openapi.py). Installs schemathesis
# into a virtualenv when missing (SHOP_SCHEMATHESIS_VENV, default
# ~/.cache/shop/schemathesis-venv) and builds the binaries when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SHOP_SCHEMATHESIS_VENV:-$HOME/.cache/shop/schemathesis-venv}
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis>=4,<5'
fi
"$venv/bin/schemathesis" --version

bin=${SHOP_BIN_DIR:-target/debug}
for b in shop mq-broker order-svc goods-svc coupon-svc user-svc pay-svc; do
  if [ ! -x "$bin/$b" ]; then
    cargo build --workspace --bins
    break
  fi
done

SCHEMATHESIS="$venv/bin/schemathesis" SHOP_BIN_DIR="$bin" exec "$venv/bin/python" .ci/fuzz_openapi.py
