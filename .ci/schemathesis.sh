#!/usr/bin/env bash
# Property-based run of schemathesis (PyPI, 4.x) over every service's /openapi.json
# with all its checks and real ids (see .ci/fuzz_openapi.py). Installs schemathesis
# into a virtualenv when missing (SHOP_SCHEMATHESIS_VENV, default
# ~/.cache/shop/schemathesis-venv) and builds the `shop` binary (which runs every part
# as `shop serve <part>`), unless SHOP_FUZZ_NO_BUILD=1 says target/debug/shop is fresh
# (.ci/run: `cargo test --workspace` just built it, with the workspace's features).
# SHOP_FUZZ_EXAMPLES: cases per operation and phase (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SHOP_SCHEMATHESIS_VENV:-$HOME/.cache/shop/schemathesis-venv}
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis>=4,<5'
fi
"$venv/bin/schemathesis" --version

if [ "${SHOP_FUZZ_NO_BUILD:-0}" != 1 ] || [ ! -x target/debug/shop ]; then
  cargo build -q -p shop --bin shop
fi
SCHEMATHESIS="$venv/bin/schemathesis" SHOP_EXE=target/debug/shop exec "$venv/bin/python" .ci/fuzz_openapi.py
