#!/usr/bin/env bash
# contrib's login services: the systemd user unit passes `systemd-analyze
# --user verify` with the binary where it names it (verify exits 0 on an
# unknown key or a bad value and only warns, so any output fails), and the
# launchd plist parses as a property list (python3's plistlib, what
# `plutil -lint` checks; macOS's plutil is not on Debian) and agrees with
# the unit (.ci/check-contrib.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home/go/bin" "$tmp/run"
chmod 700 "$tmp/run"
# The three programs, where `go install ./cmd/...` puts them.
go build -o "$tmp/home/go/bin/" ./cmd/lifeline ./cmd/lifeline-cli ./cmd/lifelined
cp contrib/lifeline.service "$tmp/"
# A user manager needs a runtime dir; none runs in a CI container.
if ! out=$(HOME="$tmp/home" XDG_RUNTIME_DIR="$tmp/run" systemd-analyze --user verify "$tmp/lifeline.service" 2>&1); then
  echo "$out"; exit 1
fi
if [ -n "$out" ]; then
  echo "systemd-analyze --user verify contrib/lifeline.service warned:"; echo "$out"; exit 1
fi
echo "contrib/lifeline.service: systemd-analyze --user verify passed"
python3 .ci/check-contrib.py contrib/io.lifeline.daemon.plist contrib/lifeline.service
