#!/usr/bin/env bash
# Zero-setup demo: a Python venv, then the whole chain on embedded parts.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[report]"
exec .venv/bin/chargewatch demo "$@"
