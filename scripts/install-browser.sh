#!/usr/bin/env bash
# Installs what the lab page's browser test needs and is not a Rust crate:
#   - headless Chromium from Debian (/usr/bin/chromium), only when missing;
#   - playwright-core for tests/browser/, from its committed package-lock.json (`npm ci`), only when missing.
# Any failure stops here, loudly: the browser test must never be skipped.
set -euo pipefail

cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser: /usr/bin/chromium is missing; run 'apt-get install -y chromium' as root" >&2
    exit 1
  fi
  echo "install-browser: installing chromium (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version >/dev/null 2>&1 \
  || { echo "install-browser: /usr/bin/chromium does not run" >&2; exit 1; }

if [ ! -d tests/browser/node_modules/playwright-core ]; then
  command -v npm >/dev/null \
    || { echo "install-browser: npm is missing; run 'apt-get install -y npm'" >&2; exit 1; }
  echo "install-browser: npm ci in tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund --ignore-scripts)
fi
