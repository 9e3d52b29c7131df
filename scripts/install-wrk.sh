#!/usr/bin/env bash
# Installs wrk (HTTP load generator, Debian package) for the connect benchmark B3
# (benchmarks/connect.py), which `make bench` runs.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "The connect benchmark needs wrk (an HTTP load generator)." >&2
    echo "Install it with: sudo apt-get install wrk" >&2
    exit 1
fi
echo "Installing wrk for the connect benchmark (once)..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
