#!/usr/bin/env bash
# The one test command (README): installs what the suite needs on a fresh Debian machine, then runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  # The admin UI is tested in a real headless Chromium from Debian's packages.
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: run 'sudo apt-get install chromium' once" >&2
    exit 1
  fi
fi
npm ci --no-audit --no-fund
npm test
