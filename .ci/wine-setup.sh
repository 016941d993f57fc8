#!/usr/bin/env bash
# wine-setup.sh prepares Wine to run the Windows build of lifeline's tests
# (`GOOS=windows go test -exec=wine`). It is idempotent: run it as often as you
# like; it only does what is missing.
#
#  1. Installs wine (8.0 on Debian 12) and the MinGW-w64 compiler, with apt.
#  2. Builds the stand-in bcryptprimitives.dll (.ci/wine/bcryptprimitives.c):
#     Go >= 1.22 needs ProcessPrng from it, which Wine 8.0 lacks.
#  3. Makes a Wine prefix inside the work tree (.ci/.wine, git-ignored) with
#     `wineboot -i`, and copies the DLL into its system32.
#
# Environment: WINEPREFIX (default .ci/.wine). `wine-setup.sh --env` prints
# the export line for other scripts to eval.
set -euo pipefail

ci=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export WINEPREFIX="${WINEPREFIX:-$ci/.wine}"
export WINEDEBUG=-all
dll_src="$ci/wine/bcryptprimitives.c"
dll_out="$ci/.build/bcryptprimitives.dll"

if [[ "${1:-}" == --env ]]; then
	printf 'export WINEPREFIX=%q WINEDEBUG=-all\n' "$WINEPREFIX"
	exit 0
fi

need=()
command -v wine >/dev/null 2>&1 || need+=(wine64 wine)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64-win32)
if ((${#need[@]})); then
	echo "wine-setup: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

if [[ ! -f "$dll_out" || "$dll_src" -nt "$dll_out" ]]; then
	echo "wine-setup: building $dll_out" >&2
	mkdir -p "$(dirname "$dll_out")"
	x86_64-w64-mingw32-gcc -shared -O2 -Wall -Werror -s \
		-o "$dll_out" "$dll_src" -ladvapi32
fi

sys32="$WINEPREFIX/drive_c/windows/system32"
if [[ ! -f "$WINEPREFIX/system.reg" || ! -d "$sys32" ]]; then
	echo "wine-setup: creating prefix $WINEPREFIX" >&2
	mkdir -p "$WINEPREFIX"
	wineboot -i >/dev/null 2>&1
	wineserver -w
fi
if ! cmp -s "$dll_out" "$sys32/bcryptprimitives.dll"; then
	cp "$dll_out" "$sys32/bcryptprimitives.dll"
fi
echo "wine-setup: ready ($(wine --version), prefix $WINEPREFIX)" >&2
