#!/usr/bin/env bash
# Installs what the receipt PDF (M5) needs from Debian: the DejaVu fonts the
# PDF embeds (umlauts, the euro sign) and poppler-utils (pdftotext, pdftoppm)
# with which the tests read the PDF back.
set -euo pipefail
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
if [ -f "$font" ] && command -v pdftotext >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Receipt PDFs need Debian's fonts-dejavu-core (and the tests poppler-utils)." >&2
    echo "Install them with: sudo apt-get install fonts-dejavu-core poppler-utils" >&2
    exit 1
fi
echo "Installing fonts-dejavu-core and poppler-utils for receipt PDFs (once)..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core poppler-utils >/dev/null
