#!/usr/bin/env bash
# The test command: sets everything up, then runs the whole suite against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
