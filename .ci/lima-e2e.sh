#!/usr/bin/env bash
# lima-e2e.sh runs lifeline's end-to-end scenarios against real Lima and QEMU
# (e2e/lima, issue 4): the engine embedded in a child program over the Lima
# driver, real `limactl hostagent`, real QEMU, a blank disk.
#
# Run it as root from anywhere in the repository, on Debian:
#
#   .ci/lima-e2e.sh            # set up what is missing, then run scenarios 1-3
#                              # and `limactl stop -f` side by side (limactl_test.go)
#
#  1. apt: qemu-system-x86 qemu-utils ovmf openssh-client (Lima's host agent
#     makes its SSH key with ssh-keygen).
#  2. Builds limactl and lima-guestagent at go.mod's Lima version from a
#     throwaway module that requires it (`go install …@vX` is refused by the
#     module proxy here: it will not list Lima's versions), into
#     $ROOT/prefix/bin/limactl and $ROOT/prefix/share/lima/, where limactl
#     (and lifeline's limaprep) look for the guest agent.
#  3. Creates the unprivileged user $E2E_USER: limactl refuses to run as root.
#  4. Compiles the suite (go test -c ./e2e/lima) and runs it as that user
#     with LIFELINE_LIMA_E2E=1, so a missing prerequisite FAILS the suite
#     rather than skipping it. KVM is not usable for guests on this kind of
#     machine: QEMU is forced to TCG through Lima's QEMU_SYSTEM_X86_64 hook,
#     which reaches the host agent through the VM's spec environment.
#
# Each scenario's wall time is printed at the end. Environment:
#   LIFELINE_LIMA_E2E_ROOT   work directory (default /var/tmp/lifeline-e2e;
#                            keep it short: Lima's socket paths must fit)
#   LIFELINE_LIMA_E2E_USER   the unprivileged user (default lifeline-e2e)
#   LIFELINE_LIMA_E2E_RUN    -test.run pattern (default: scenarios 1-3,
#                            LimactlStopForce, LimactlStartAdopted, ImportRelease, CrashRestartTracked, RebootComesBack;
#                            e2e/lima/scenario4-debian.sh runs scenario 4 and DebianMixed)
#   LIFELINE_LIMA_E2E_DEBIAN the Debian guest image directory (scenario 4)
#   LIFELINE_LIMA_E2E_TIMEOUT the suite's -test.timeout (default 20m; scenario4-debian.sh: 90m)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
ROOT=${LIFELINE_LIMA_E2E_ROOT:-/var/tmp/lifeline-e2e}
E2E_USER=${LIFELINE_LIMA_E2E_USER:-lifeline-e2e}
TIMEOUT=${LIFELINE_LIMA_E2E_TIMEOUT:-20m}
RUN=${LIFELINE_LIMA_E2E_RUN:-Scenario([123]|LimactlStopForce|LimactlStartAdopted|ImportRelease|CrashRestartTracked|RebootComesBack)}
QEMU_TCG="qemu-system-x86_64 -machine q35,vmport=off -accel tcg,thread=multi,tb-size=512"

say() { printf '\n== lima-e2e: %s\n' "$*" >&2; }
die() { printf 'lima-e2e: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and creates a user; the suite itself runs unprivileged)"
LIMA_VERSION=$(cd "$repo" && go list -m -f '{{.Version}}' github.com/lima-vm/lima) ||
	die "go list -m github.com/lima-vm/lima"
mkdir -p "$ROOT"/{prefix/bin,prefix/share/lima,bin,build}
chmod 755 "$ROOT"

# --- 1. packages ------------------------------------------------------------
need=()
for p in qemu-system-x86 qemu-utils ovmf openssh-client; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
	say "apt-get install ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || die "apt-get update"
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]}"
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing after apt"
command -v qemu-img >/dev/null || die "qemu-img missing after apt"

# --- 2. limactl + guest agent ----------------------------------------------
limactl=$ROOT/prefix/bin/limactl
ga=$ROOT/prefix/share/lima/lima-guestagent.Linux-x86_64
if [ ! -x "$limactl" ] || [ ! -s "$ga" ] || [ "$("$limactl" --version 2>/dev/null)" != "limactl version ${LIMA_VERSION#v}" ]; then
	say "build limactl + lima-guestagent $LIMA_VERSION"
	start=$SECONDS
	b=$ROOT/build
	rm -f "$b/go.mod" "$b/go.sum"
	printf 'module lifeline.invalid/limabuild\n\ngo 1.24.0\n\nrequire github.com/lima-vm/lima %s\n' "$LIMA_VERSION" >"$b/go.mod"
	ldflags="-s -w -X github.com/lima-vm/lima/pkg/version.Version=$LIMA_VERSION"
	(
		cd "$b"
		go get "github.com/lima-vm/lima/cmd/limactl@$LIMA_VERSION" "github.com/lima-vm/lima/cmd/lima-guestagent@$LIMA_VERSION"
		go build -ldflags="$ldflags" -o "$limactl" github.com/lima-vm/lima/cmd/limactl
		CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -ldflags="$ldflags" -o "$ga" github.com/lima-vm/lima/cmd/lima-guestagent
	) || die "building Lima $LIMA_VERSION"
	echo "lima-e2e: built in $((SECONDS - start))s" >&2
fi
chmod -R a+rX "$ROOT/prefix"
"$limactl" --version >/dev/null || die "$limactl does not run"

# --- 3. the unprivileged user -----------------------------------------------
if ! id "$E2E_USER" >/dev/null 2>&1; then
	say "useradd $E2E_USER"
	useradd --create-home --home-dir "$ROOT/home" --shell /bin/bash "$E2E_USER" || die "useradd $E2E_USER"
fi
home=$(getent passwd "$E2E_USER" | cut -d: -f6)
# Every process of this user is killed after the suite: only a user this
# script made may be used (its home is some run's $ROOT/home, marked).
if [ "$home" = "$ROOT/home" ]; then
	touch "$home/.lifeline-e2e-user"
fi
[ -e "$home/.lifeline-e2e-user" ] ||
	die "user $E2E_USER exists and is not this suite's (home $home has no .lifeline-e2e-user): name another with LIFELINE_LIMA_E2E_USER"

# --- 4. the suite -----------------------------------------------------------
say "compile e2e/lima"
(cd "$repo" && go test -c -o "$ROOT/bin/limae2e.test" ./e2e/lima) || die "go test -c ./e2e/lima"
chmod 755 "$ROOT/bin/limae2e.test"

run=$ROOT/run
# One run at a time on a machine: the runs share $ROOT and the user, and
# the check after the suite takes every process of that user for this
# run's. A second run waits up to 30 minutes, then gives up saying so.
exec 9>"$ROOT/lock"
flock -w 1800 9 || die "another lima-e2e run holds $ROOT/lock (waited 30 minutes)"
# Whatever an earlier run left (one killed before its own check) is
# reported and killed here, so that it is not taken for this run's leak.
if left=$(pgrep -a -u "$E2E_USER"); then
	echo "lima-e2e: processes of $E2E_USER left by an earlier run (killed now):" >&2
	echo "$left" >&2
	pkill -KILL -u "$E2E_USER" || true
fi
# A fresh LIMA_HOME and work directory per run.
rm -rf "$run"
mkdir -p "$run/tmp"
chown -R "$E2E_USER": "$run"
times=$run/times.txt

say "run scenarios as $E2E_USER (QEMU forced to TCG)"
start=$SECONDS
set +e
runuser -u "$E2E_USER" -- env -i \
	HOME="$home" USER="$E2E_USER" LOGNAME="$E2E_USER" TMPDIR="$run/tmp" \
	PATH="$ROOT/prefix/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" \
	LIMA_HOME="$run/lh" \
	LIFELINE_LIMA_E2E=1 \
	LIFELINE_LIMA_E2E_LIMACTL="$limactl" \
	LIFELINE_LIMA_E2E_DIR="$run" \
	LIFELINE_LIMA_E2E_QEMU="$QEMU_TCG" \
	LIFELINE_LIMA_E2E_CPUTYPE=max \
	LIFELINE_LIMA_E2E_TIMES="$times" \
	${LIFELINE_LIMA_E2E_DEBIAN:+LIFELINE_LIMA_E2E_DEBIAN="$LIFELINE_LIMA_E2E_DEBIAN"} \
	"$ROOT/bin/limae2e.test" -test.v -test.count=1 -test.timeout="$TIMEOUT" -test.run "$RUN" 9>&-
rc=$?
set -e

# Nothing of the suite may outlive it: a test's cleanup kills what it
# started, but a suite that hit its -test.timeout panics without running
# cleanups and leaves QEMU and host agents behind. Report them (a leak is
# a failure, even after a passing suite), then kill them so that the next
# step and the next run start on a clean machine. Bounded: 10 s for
# stragglers that are already exiting.
left=
for _ in $(seq 1 20); do
	left=$(pgrep -a -u "$E2E_USER" || true)
	[ -z "$left" ] && break
	sleep 0.5
done
if [ -n "$left" ]; then
	echo "lima-e2e: processes of $E2E_USER still running after the suite (killed now):" >&2
	echo "$left" >&2
	pkill -KILL -u "$E2E_USER" || true
fi

say "wall times (suite $((SECONDS - start))s)"
cat "$times" 2>/dev/null || true
if [ "$rc" != 0 ]; then
	echo "lima-e2e: logs are in $run (host agent logs in $run/lh/<vm>/ha.std*.log, engine logs in $run/*.host*.log)" >&2
	die "the suite failed (exit $rc)"
fi
[ -z "$left" ] || die "the suite passed but left processes running (listed above): a test's cleanup missed them"
echo "lima-e2e: passed" >&2
