#!/usr/bin/env bash
# chromium-setup.sh installs Debian's chromium, which the replay package's
# report test uses to render `lifeline replay report --html` headless and
# check the screenshot and the DOM (replay/report_chromium_test.go).
# It is idempotent: with chromium already on PATH it does nothing.
#
# The test runs chromium as:
#   chromium --headless --no-sandbox --disable-gpu \
#     --disable-background-networking --disable-component-update \
#     --no-first-run --user-data-dir=DIR --screenshot=FILE --window-size=W,H URL
# and, with LIFELINE_CI=1 set, fails when chromium is missing.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
	echo "chromium-setup: ready ($(chromium --version 2>/dev/null || echo chromium))" >&2
	exit 0
fi
echo "chromium-setup: installing chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium-setup: ready ($(chromium --version 2>/dev/null || echo chromium))" >&2
