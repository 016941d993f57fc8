#!/usr/bin/env bash
# wine-test.sh runs the Windows build of the process driver's tests under
# Wine: `GOOS=windows go test -exec=wine ./drivers/process/...`. It runs
# wine-setup.sh first (idempotent) and stops the Wine server at the end.
# Extra arguments go to `go test` (e.g. -run, -v, -count=1).
set -euo pipefail

ci=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bash "$ci/wine-setup.sh"
eval "$(bash "$ci/wine-setup.sh" --env)"
trap 'wineserver -k >/dev/null 2>&1 || true' EXIT

cd "$ci/.."
GOOS=windows GOARCH=amd64 go test -exec=wine "$@" ./drivers/process/...
