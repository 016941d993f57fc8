#!/usr/bin/env bash
# scenario4-debian.sh runs the e2e scenarios on a real guest against real
# Lima and QEMU: a small Debian guest with Lima's guest agent, a 9p mount and
# a port forward, that boots to a non-degraded `"running": true` (scenario 4
# of issue 4: graceful stop, second start) and that a script drives with both
# lifeline and limactl (debian_mixed_test.go, issue 11). It is slow (the
# image takes ~2 minutes to build once; a boot under TCG takes 2-3 minutes on
# an idle machine, over 10 on a loaded one), so it is kept apart from
# .ci/lima-e2e.sh's scenarios 1-3; run it after them, as root:
#
#   e2e/lima/scenario4-debian.sh
#
# It builds the guest once into $ROOT/debian (debootstrap bookworm with
# cloud-init, openssh-server, sudo, and dbus + libpam-systemd so that
# systemd-logind answers the ACPI power button Lima presses on SIGINT;
# iptables so that Lima's boot scripts need no apt in the guest; the 9p mount
# needs nothing but the kernel's modules), as an ext4 image on the whole
# virtio disk (qcow2) with the kernel and initrd beside it for direct kernel
# boot. The image carries a recipe stamp ($img/recipe): an image built by an
# older recipe is rebuilt, the debootstrap tree ($ROOT/debian-rootfs) only
# when its package list changed.
#
# The guest agent starts early: Lima 1.2.3's host agent loses the guest
# agent for good when its first attempt to reach it comes before the agent
# listens (pkg/hostagent/hostagent.go:580-582 calls forwardSSH again after a
# failed attempt; forwardSSH, line 730, removes the local ga.sock before
# `ssh -O forward`, which OpenSSH's master answers "OK" for a forward it
# already has, without listening again; fixed upstream in v2.1.2, commit
# dade080c, lima-vm/lima#2227). Lima starts that first attempt as soon as
# /run/lima-ssh-ready exists (boot script 07), and installs the agent only in
# boot script 25: under TCG a minute later, so the race is always lost and
# the VM comes up degraded ("guest agent does not seem to be running").
# The image therefore starts the agent from Lima's cidata before Lima's boot
# scripts run (lifeline-e2e-guestagent.service; in plain mode it does
# nothing), and Lima's own lima-guestagent.service skips itself when that
# one runs (a drop-in).
#
# Then it runs .ci/lima-e2e.sh with the tests of this guest selected:
# scenario 4 and the mixed lifeline/limactl scenario (TestScenarioDebianMixed);
# LIFELINE_LIMA_E2E_RUN picks others (TestScenarioDebianLimactlStop).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROOT=${LIFELINE_LIMA_E2E_ROOT:-/var/tmp/lifeline-e2e}
img=$ROOT/debian
rootfs=$ROOT/debian-rootfs
die() { printf 'scenario4: FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

# The guest's packages (debootstrap --include), and the image recipe's
# version: bump it whenever what build_image puts in the image changes, so
# that a cached image of an older recipe is rebuilt.
packages=linux-image-amd64,systemd-sysv,udev,dbus,libpam-systemd,cloud-init,python3-cffi-backend,openssh-server,sudo,ifupdown,isc-dhcp-client,iproute2,iptables,netbase,ca-certificates,kmod,procps
recipe="2 (early guest agent; ed25519 host keys only; no locale module) $packages"

# rootfs_current: the debootstrap tree exists and was made from $packages. A
# tree from before the stamp existed was made from this same list.
rootfs_current() {
	[ -x "$rootfs/usr/bin/cloud-init" ] && [ -e "$rootfs/usr/bin/dbus-daemon" ] || return 1
	[ -f "$rootfs.packages" ] || echo "$packages" >"$rootfs.packages"
	[ "$(cat "$rootfs.packages")" = "$packages" ]
}

# guest_files writes the image's own configuration into the rootfs.
guest_files() {
	# The root file system is the whole virtio disk (Lima attaches the diff
	# disk as /dev/vda); cloud-init reads Lima's cidata (NoCloud).
	echo '/dev/vda / ext4 rw,discard,errors=remount-ro 0 1' >"$rootfs/etc/fstab"
	: >"$rootfs/etc/machine-id"
	rm -f "$rootfs/var/lib/dbus/machine-id"
	# Under TCG an RSA host key takes a minute to generate and the locale
	# module fails anyway (no locales package): ed25519 only, no locale.
	cat >"$rootfs/etc/cloud/cloud.cfg.d/99-lifeline-e2e.cfg" <<-'EOF'
		datasource_list: [ NoCloud, None ]
		ssh_genkeytypes: [ ed25519 ]
		locale: false
	EOF
	# The guest agent, early (see the top of this file).
	mkdir -p "$rootfs/usr/local/libexec/lifeline-e2e" "$rootfs/etc/systemd/system/lima-guestagent.service.d" \
		"$rootfs/etc/systemd/system/multi-user.target.wants"
	cat >"$rootfs/usr/local/libexec/lifeline-e2e/prepare-guestagent" <<-'EOF'
		#!/bin/sh
		# Installs Lima's guest agent from Lima's cidata (ExecCondition of
		# lifeline-e2e-guestagent.service): exit 0 installed, 1 plain mode
		# (Lima runs no guest agent: the unit is skipped), 255 an error.
		dev=/dev/disk/by-label/cidata
		mnt=/run/lifeline-e2e-cidata
		bin=/usr/local/libexec/lifeline-e2e/lima-guestagent
		i=0
		while [ ! -e "$dev" ]; do
			i=$((i + 1))
			[ "$i" -le 600 ] || { echo "no $dev after 2 minutes" >&2; exit 255; }
			sleep 0.2
		done
		mkdir -p -m 700 "$mnt" && mount -o ro "$dev" "$mnt" || exit 255
		rc=0
		if grep -qx 'LIMA_CIDATA_PLAIN=1' "$mnt/lima.env"; then
			echo "plain mode: Lima runs no guest agent"
			rc=1
		elif ! install -m 755 "$mnt/lima-guestagent" "$bin"; then
			rc=255
		fi
		umount "$mnt" || true
		[ "$rc" = 0 ] && touch /run/lifeline-e2e-guestagent
		exit "$rc"
	EOF
	chmod 755 "$rootfs/usr/local/libexec/lifeline-e2e/prepare-guestagent"
	cat >"$rootfs/etc/systemd/system/lifeline-e2e-guestagent.service" <<-'EOF'
		[Unit]
		Description=Lima guest agent, started before Lima's boot scripts (lifeline e2e image)
		Wants=dev-disk-by\x2dlabel-cidata.device
		After=dev-disk-by\x2dlabel-cidata.device local-fs.target
		Before=cloud-final.service

		[Service]
		Type=exec
		ExecCondition=/usr/local/libexec/lifeline-e2e/prepare-guestagent
		ExecStart=/usr/local/libexec/lifeline-e2e/lima-guestagent daemon
		ExecStartPost=/bin/sh -c 'i=0; while [ ! -S /run/lima-guestagent.sock ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done'
		Restart=on-failure
		OOMPolicy=continue
		OOMScoreAdjust=-500

		[Install]
		WantedBy=multi-user.target
	EOF
	ln -sf /etc/systemd/system/lifeline-e2e-guestagent.service \
		"$rootfs/etc/systemd/system/multi-user.target.wants/lifeline-e2e-guestagent.service"
	cat >"$rootfs/etc/systemd/system/lima-guestagent.service.d/50-lifeline-e2e.conf" <<-'EOF'
		# Lima's boot script 25 installs, enables and (re)starts this unit;
		# lifeline-e2e-guestagent.service already runs the same agent on the
		# same socket, and a restart would drop the host agent's connection.
		[Unit]
		After=lifeline-e2e-guestagent.service
		ConditionPathExists=!/run/lifeline-e2e-guestagent
	EOF
}

if [ ! -s "$img/rootfs.qcow2" ] || [ ! -s "$img/vmlinuz" ] || [ ! -s "$img/initrd.img" ] ||
	[ "$(cat "$img/recipe" 2>/dev/null)" != "$recipe" ]; then
	need=()
	for p in debootstrap e2fsprogs qemu-utils; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	if ((${#need[@]})); then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q >/dev/null || die "apt-get update"
		apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]}"
	fi
	start=$SECONDS
	rm -f "$img/recipe"
	if ! rootfs_current; then
		rm -rf "$rootfs" "$rootfs.packages" && mkdir -p "$rootfs"
		# The mirror this machine's apt uses.
		mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
		[ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
		[ -n "$mirror" ] || die "no Debian mirror found in apt's sources"
		echo "scenario4: debootstrap bookworm from $mirror" >&2
		debootstrap --variant=minbase --include="$packages" \
			bookworm "$rootfs" "$mirror" >"$ROOT/debootstrap.log" 2>&1 ||
			die "debootstrap (see $ROOT/debootstrap.log)"
		echo "$packages" >"$rootfs.packages"
	fi
	guest_files
	chroot "$rootfs" apt-get clean
	mkdir -p "$img"
	kv=$(find "$rootfs/boot" -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -1)
	[ -n "$kv" ] || die "no kernel in the rootfs"
	cp "$rootfs/boot/vmlinuz-$kv" "$img/vmlinuz"
	cp "$rootfs/boot/initrd.img-$kv" "$img/initrd.img"
	rm -f "$img/rootfs.raw" "$img/rootfs.qcow2"
	mkfs.ext4 -q -F -L rootfs -d "$rootfs" "$img/rootfs.raw" 2G || die "mkfs.ext4"
	qemu-img convert -O qcow2 "$img/rootfs.raw" "$img/rootfs.qcow2" || die "qemu-img convert"
	rm -f "$img/rootfs.raw"
	echo "$recipe" >"$img/recipe"
	chmod 755 "$img" && chmod 644 "$img"/*
	echo "scenario4: guest image built in $((SECONDS - start))s (recipe $recipe)" >&2
fi

# Four TCG boots of 2-8 minutes each, by the machine's load;
# each wait has its own bound, the suite's timeout only catches a hang.
LIFELINE_LIMA_E2E_TIMEOUT=${LIFELINE_LIMA_E2E_TIMEOUT:-90m} \
	LIFELINE_LIMA_E2E_RUN=${LIFELINE_LIMA_E2E_RUN:-Scenario(4|DebianMixed)} LIFELINE_LIMA_E2E_DEBIAN="$img" exec "$repo/.ci/lima-e2e.sh"
