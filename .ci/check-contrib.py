#!/usr/bin/env python3
"""Check contrib's launchd plist the way `plutil -lint` would (it must
parse as a property list), and that it agrees with the systemd user unit:
the same binary (the daemon's, $HOME/go/bin/lifelined: %h in the unit,
@HOME@ in the plist), the same daemon arguments and stop timeout, and a log in the
user's own ~/Library/Logs/lifeline, nowhere in /tmp.

usage: check-contrib.py PLIST UNIT"""
import plistlib
import shlex
import sys

plist_path, unit_path = sys.argv[1], sys.argv[2]
errors = []
with open(plist_path, "rb") as f:
    try:
        p = plistlib.load(f, fmt=plistlib.FMT_XML)
    except Exception as e:  # plistlib raises several kinds
        sys.exit(f"{plist_path}: not a valid property list: {e}")

unit = {}
section = None
with open(unit_path) as f:
    for line in f:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        unit[(section, k)] = v

home = "/HOME"
exec_start = shlex.split(unit[("Service", "ExecStart")].replace("%h", home))
args = [a.replace("@HOME@", home) for a in p.get("ProgramArguments", [])]
if p.get("Label") != "io.lifeline.daemon":
    errors.append(f"Label {p.get('Label')!r}, want io.lifeline.daemon")
if args != exec_start:
    errors.append(f"ProgramArguments {args} differ from the unit's ExecStart {exec_start}")
if not exec_start or exec_start[0] != home + "/go/bin/lifelined":
    errors.append(f"the binary is {exec_start[:1]}, want ~/go/bin/lifelined (go install ./cmd/...)")
if p.get("RunAtLoad") is not True:
    errors.append("RunAtLoad is not true: it would not start at login")
if p.get("ExitTimeOut") != int(unit[("Service", "TimeoutStopSec")]):
    errors.append(f"ExitTimeOut {p.get('ExitTimeOut')} differs from the unit's TimeoutStopSec")
for key in ("StandardOutPath", "StandardErrorPath"):
    v = p.get(key, "")
    if not v.startswith("@HOME@/Library/Logs/lifeline/"):
        errors.append(f"{key} {v!r}: want a file in ~/Library/Logs/lifeline")
if "/tmp" in open(plist_path).read() or "/tmp" in open(unit_path).read():
    errors.append("a path in /tmp")
if errors:
    sys.exit("\n".join(f"{plist_path}: {e}" for e in errors))
print(f"{plist_path}: valid, agrees with {unit_path}")
