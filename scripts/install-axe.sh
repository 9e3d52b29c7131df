#!/usr/bin/env bash
# Installs axe-core (the accessibility rules the browser tests run in every
# page) from the npm registry, exactly as pinned in package-lock.json, into
# node_modules/ (ignored by git). Needs node and npm: installed from Debian's
# packages when missing (root on CI). The lock names no registry host: npm
# fetches from the registry it is configured with and checks the integrity hash.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "Browser tests need node and npm for axe-core. Install them with: sudo apt-get install nodejs npm" >&2
        exit 1
    fi
    echo "Installing Debian's nodejs and npm for the browser tests (once)..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
touch node_modules/.installed-from-lock
