#!/usr/bin/env bash
# scenario4-debian.sh runs scenario 4 of issue 4 against real Lima and QEMU:
# a small Debian guest that boots to Lima's `"running": true` (default
# readiness), stops on the graceful path, and starts a second time. It is
# slow (the image takes ~2 minutes to build once; a boot under TCG takes
# 50-160 s), so it is kept apart from .ci/lima-e2e.sh's scenarios 1-3; run it
# after them, as root:
#
#   e2e/lima/scenario4-debian.sh
#
# It builds the guest once into $ROOT/debian (debootstrap bookworm with
# cloud-init, openssh-server, sudo, and dbus + libpam-systemd so that
# systemd-logind answers the ACPI power button Lima presses on SIGINT;
# iptables so that Lima's boot scripts need no apt in the guest), as an ext4
# image on the whole virtio disk (qcow2) with the kernel and initrd beside it
# for direct kernel boot. Then it runs .ci/lima-e2e.sh with the tests of
# this guest selected: scenario 4 and `limactl stop` side by side
# (TestScenarioDebianLimactlStop); LIFELINE_LIMA_E2E_RUN picks others.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROOT=${LIFELINE_LIMA_E2E_ROOT:-/var/tmp/lifeline-e2e}
img=$ROOT/debian
die() { printf 'scenario4: FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

if [ ! -s "$img/rootfs.qcow2" ] || [ ! -s "$img/vmlinuz" ] || [ ! -s "$img/initrd.img" ]; then
	need=()
	for p in debootstrap e2fsprogs qemu-utils; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	if ((${#need[@]})); then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q >/dev/null || die "apt-get update"
		apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]}"
	fi
	rootfs=$ROOT/debian-rootfs
	start=$SECONDS
	if [ ! -x "$rootfs/usr/bin/cloud-init" ] || [ ! -e "$rootfs/usr/bin/dbus-daemon" ]; then
		rm -rf "$rootfs" && mkdir -p "$rootfs"
		# The mirror this machine's apt uses.
		mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
		[ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
		[ -n "$mirror" ] || die "no Debian mirror found in apt's sources"
		echo "scenario4: debootstrap bookworm from $mirror" >&2
		debootstrap --variant=minbase \
			--include=linux-image-amd64,systemd-sysv,udev,dbus,libpam-systemd,cloud-init,python3-cffi-backend,openssh-server,sudo,ifupdown,isc-dhcp-client,iproute2,iptables,netbase,ca-certificates,kmod,procps \
			bookworm "$rootfs" "$mirror" >"$ROOT/debootstrap.log" 2>&1 ||
			die "debootstrap (see $ROOT/debootstrap.log)"
	fi
	# The root file system is the whole virtio disk (Lima attaches the diff
	# disk as /dev/vda); cloud-init reads Lima's cidata (NoCloud).
	echo '/dev/vda / ext4 rw,discard,errors=remount-ro 0 1' >"$rootfs/etc/fstab"
	: >"$rootfs/etc/machine-id"
	rm -f "$rootfs/var/lib/dbus/machine-id"
	printf 'datasource_list: [ NoCloud, None ]\n' >"$rootfs/etc/cloud/cloud.cfg.d/99-lifeline-e2e.cfg"
	chroot "$rootfs" apt-get clean
	mkdir -p "$img"
	kv=$(find "$rootfs/boot" -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -1)
	[ -n "$kv" ] || die "no kernel in the rootfs"
	cp "$rootfs/boot/vmlinuz-$kv" "$img/vmlinuz"
	cp "$rootfs/boot/initrd.img-$kv" "$img/initrd.img"
	rm -f "$img/rootfs.raw"
	mkfs.ext4 -q -F -L rootfs -d "$rootfs" "$img/rootfs.raw" 2G || die "mkfs.ext4"
	qemu-img convert -O qcow2 "$img/rootfs.raw" "$img/rootfs.qcow2" || die "qemu-img convert"
	rm -f "$img/rootfs.raw"
	chmod 755 "$img" && chmod 644 "$img"/*
	echo "scenario4: guest image built in $((SECONDS - start))s" >&2
fi

LIFELINE_LIMA_E2E_RUN=${LIFELINE_LIMA_E2E_RUN:-Scenario(4|DebianLimactlStop)} LIFELINE_LIMA_E2E_DEBIAN="$img" exec "$repo/.ci/lima-e2e.sh"
