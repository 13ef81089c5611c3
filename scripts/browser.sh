#!/usr/bin/env bash
# Make a headless browser available for the browser tests (test/browser/): Debian's chromium at
# /usr/bin/chromium. playwright-core drives it; Playwright's own browser downloads are never used.
# Installs with apt-get only when /usr/bin/chromium is missing, so running it again is cheap.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x $CHROMIUM ]]; then
  echo "chromium   up ($CHROMIUM)"
  exit 0
fi

echo "browser.sh: $CHROMIUM not found, installing Debian's chromium" >&2
apt-get update -qq </dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium </dev/null >/dev/null
[[ -x $CHROMIUM ]] || { echo "browser.sh: chromium did not install at $CHROMIUM" >&2; exit 1; }
echo "chromium   installed ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
