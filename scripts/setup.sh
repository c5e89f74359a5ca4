#!/usr/bin/env bash
# Installs the system packages the tests use (as root, with apt-get) and the Python
# dependencies into .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd: systemd-analyze verifies the units in packaging/systemd (tests/ops/test_systemd_units.py)
# prometheus-alertmanager: notification tests post alerts to a real Alertmanager (tests/gateway/notify)
# fonts-noto-cjk: the CJK font `chargewatch report` draws its Chinese chart labels with (and the
#   control room its Chinese text in headless Chromium)
# chromium: the browser tests of the control room drive it headless through Playwright (tests/ui)
pkgs=(mosquitto influxdb victoria-metrics socat mbpoll systemd prometheus-alertmanager fonts-noto-cjk chromium)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "== apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages may start their services on install; tests start their own, so stop
# those (only where a service manager started them).
for svc in mosquitto influxdb victoria-metrics prometheus-alertmanager; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev,report]'
