#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests. Playwright drives this
# binary (/usr/bin/chromium); it never downloads a browser of its own.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Browser tests need Debian's chromium. Install it with: sudo apt-get install chromium" >&2
    exit 1
fi
echo "Installing Debian's chromium for the browser tests (once)..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
