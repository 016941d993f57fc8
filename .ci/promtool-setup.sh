#!/usr/bin/env bash
# promtool-setup.sh puts Prometheus's promtool on PATH (/usr/local/bin), for
# the daemon's metrics test (internal/daemon/metrics_promtool_test.go), which
# runs `promtool check metrics` on a scrape and, with LIFELINE_CI=1 set,
# fails when promtool is missing.
# Debian's prometheus package provides promtool; installing the package
# would also start a Prometheus server, so only promtool is taken out of the
# downloaded .deb. Idempotent: with promtool on PATH it does nothing.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
	echo "promtool-setup: ready ($(promtool --version 2>&1 | head -1))" >&2
	exit 0
fi
echo "promtool-setup: extracting promtool from Debian's prometheus package" >&2
export DEBIAN_FRONTEND=noninteractive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp" # apt downloads as _apt
apt-get update -q >/dev/null
(cd "$tmp" && apt-get download -q prometheus >/dev/null)
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
install -m 0755 "$tmp/x/usr/bin/promtool" /usr/local/bin/promtool
echo "promtool-setup: ready ($(promtool --version 2>&1 | head -1))" >&2
