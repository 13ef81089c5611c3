#!/usr/bin/env bash
# Make HAProxy available for test/deploy/ (the shipped deploy/haproxy.cfg is started for real there).
# Installs Debian's haproxy with apt-get only when it is missing, so running it again is cheap.
set -euo pipefail

if command -v haproxy >/dev/null; then
  echo "haproxy    up ($(haproxy -v | head -1 | cut -d' ' -f1-3))"
  exit 0
fi

echo "haproxy.sh: haproxy not found, installing Debian's haproxy" >&2
apt-get update -qq </dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy </dev/null >/dev/null
command -v haproxy >/dev/null || { echo "haproxy.sh: haproxy did not install" >&2; exit 1; }
# The package starts a system instance on :80 we do not use.
systemctl disable --now haproxy >/dev/null 2>&1 || service haproxy stop >/dev/null 2>&1 || true
echo "haproxy    installed ($(haproxy -v | head -1 | cut -d' ' -f1-3))"
