#!/usr/bin/env bash
# powercut.sh runs lifeline's power-cut suite (e2e/powercut, issue 14): a
# Debian kernel under QEMU runs the daemon with agent-sim and a random
# workload, QEMU is SIGKILLed at a random moment (the guest loses its page
# cache, as a machine loses it when its power goes), and the next boot of
# the same disk is audited.
#
# Run it as root from anywhere in the repository, on Debian:
#
#   .ci/powercut.sh                        # 3 cuts (CI)
#   LIFELINE_POWERCUT_CUTS=20 .ci/powercut.sh
#   LIFELINE_POWERCUT_SEED=N .ci/powercut.sh   # replay the cut of seed N
#
# It installs what is missing (qemu-system-x86 e2fsprogs busybox-static
# linux-image-amd64) and runs the suite with LIFELINE_POWERCUT=1, so a
# missing prerequisite fails the suite instead of skipping it. A cut takes
# about a minute under TCG on a small machine. LIFELINE_POWERCUT_KEEP=DIR
# keeps each cut's disk image, console and report files.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"

die() { printf 'powercut: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages; the guest kernel in /boot must be readable)"
need=()
for p in qemu-system-x86 e2fsprogs busybox-static linux-image-amd64; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
	printf '\n== powercut: apt-get install %s\n' "${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || die "apt-get update"
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]}"
fi

cd "$repo"
LIFELINE_POWERCUT=1 LIFELINE_POWERCUT_CUTS="${LIFELINE_POWERCUT_CUTS:-3}" \
	go test -count=1 -v -timeout 60m -run '^TestPowerCut$' ./e2e/powercut/ || die "the suite failed"
echo "powercut: passed" >&2
