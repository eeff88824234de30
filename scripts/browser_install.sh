#!/usr/bin/env bash
# Installs Debian's Chromium for the headless browser test (tests/e2e/test_funnel_report_browser.py), once:
# nothing to do when `chromium` is already on the PATH. With apt-get (as root, or through sudo) it installs the
# `chromium` package; a machine without apt-get is told to install Chromium by hand (the test then skips).
set -euo pipefail

if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "no apt-get here: install Chromium by hand to run the browser test (it skips without it)" >&2
    exit 0
fi
as_root=()
if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || { echo "installing Chromium needs root: run as root or install sudo" >&2; exit 1; }
    as_root=(sudo)
fi
echo "installing Debian's chromium for the browser test (first time only)" >&2
"${as_root[@]}" apt-get install -y --no-install-recommends chromium >&2 \
    || { "${as_root[@]}" apt-get update >&2 && "${as_root[@]}" apt-get install -y --no-install-recommends chromium >&2; }
