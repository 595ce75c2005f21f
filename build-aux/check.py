#!/usr/bin/env python3
"""The checks `meson test` runs on igotchuu's installed files.

    check.py tool [--break OLD NEW] FILE -- COMMAND...   COMMAND FILE must pass
    check.py man [--break OLD NEW] FILE                  renders without warnings
    check.py units --bindir DIR --built-bindir DIR UNIT...
                                                         systemd-analyze verify
    check.py bus-policy [--break OLD NEW] FILE           a dbus-daemon takes it
    check.py version VERSION --cargo CARGO --manifest CARGO_TOML
                     --metainfo FILE --binary BINARY...  one version everywhere

`--break OLD NEW` checks a copy of FILE (same name, in a temporary folder)
with OLD replaced by NEW; meson expects those runs to fail, which shows the
check can fail at all. A check that cannot run (a tool missing, OLD not in
the file) exits with 99, which meson reports as an error, never as the
expected failure.
"""

import argparse
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

# meson's "this test could not run" exit code.
ERROR = 99

# The Debian package of each tool, for the message when it is missing.
PACKAGES = {
    "desktop-file-validate": "desktop-file-utils",
    "appstreamcli": "appstream",
    "xmllint": "libxml2-utils",
    "systemd-analyze": "systemd",
    "dbus-daemon": "dbus-daemon",
    "man": "man-db",
}

# How long dbus-daemon may take to start.
BUS_START_SECONDS = 10


def die(message):
    print(f"check.py: {message}", file=sys.stderr)
    sys.exit(ERROR)


def require(tool):
    if shutil.which(tool) is None:
        die(f"{tool} is not installed (Debian package {PACKAGES.get(tool, tool)})")


def staged(path, brk, tmp):
    """`path`, or a broken copy of it in `tmp` (same file name) with `--break`."""
    path = Path(path)
    if brk is None:
        return path
    old, new = brk
    text = path.read_text()
    if old not in text:
        die(f"cannot break {path}: it does not contain {old!r}")
    copy = Path(tmp) / path.name
    copy.write_text(text.replace(old, new, 1))
    print(f"checking a copy of {path} with {old!r} replaced by {new!r}")
    return copy


def run(cmd, **kwargs):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, text=True, capture_output=True, **kwargs)


def show(result):
    sys.stdout.write(result.stdout)
    sys.stdout.write(result.stderr)


def check_tool(args, tmp):
    if not args.command:
        die("tool: no command after --")
    require(args.command[0])
    result = run([*args.command, staged(args.file, args.brk, tmp)])
    show(result)
    return 0 if result.returncode == 0 else 1


def check_man(args, tmp):
    require("man")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    page = staged(args.file, args.brk, tmp)
    result = run(["man", "--warnings", "-E", "UTF-8", "-l", page], env=env)
    # groff's warnings (an unknown macro, a line that cannot be broken …)
    # go to stderr and leave the exit status alone.
    sys.stdout.write(result.stderr)
    if result.returncode != 0 or result.stderr.strip():
        return 1
    # Bold and underline come as overstrikes ("N\bN").
    if "NAME" not in re.sub(".\b", "", result.stdout):
        print(f"{page} rendered without a NAME section")
        return 1
    return 0


def check_units(args, tmp):
    require("systemd-analyze")
    names = []
    for unit in map(Path, args.units):
        text = unit.read_text()
        if unit.suffix == ".service":
            # Point ExecStart= at the helper just built: verify checks that
            # the program exists and is executable.
            installed = f"{args.bindir}/igotchuu"
            if installed not in text:
                die(f"{unit} does not run {installed}")
            text = text.replace(installed, f"{args.built_bindir}/igotchuu")
        (Path(tmp) / unit.name).write_text(text)
        names.append(unit.name)
    # All at once: some mistakes only show together (two units claiming one
    # BusName=).
    result = run(
        ["systemd-analyze", "verify", "--man=no", *(Path(tmp) / n for n in names)],
        env=dict(os.environ, SYSTEMD_LOG_COLOR="0"),
    )
    show(result)
    if result.returncode != 0:
        return 1
    # An unknown key or a bad value is only a warning; none may name ours.
    output = result.stdout + result.stderr
    warned = [n for n in names if n in output]
    if warned:
        print(f"systemd-analyze warned about {', '.join(warned)}")
        return 1
    return 0


def check_bus_policy(args, tmp):
    require("dbus-daemon")
    policy = staged(args.file, args.brk, tmp)
    config = Path(tmp) / "bus.conf"
    config.write_text(
        f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:dir={tmp}</listen>
  <auth>EXTERNAL</auth>
  <include>{policy.resolve()}</include>
</busconfig>
"""
    )
    cmd = ["dbus-daemon", f"--config-file={config}", "--nofork", "--nosyslog", "--print-address"]
    print("+", " ".join(cmd), flush=True)
    daemon = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([daemon.stdout], [], [], BUS_START_SECONDS)
        address = daemon.stdout.readline().strip() if ready else ""
    finally:
        daemon.kill()
        _, stderr = daemon.communicate()
    sys.stdout.write(stderr)
    if address.startswith("unix:"):
        print(f"dbus-daemon started with the policy (at {address}) and was stopped")
        return 0
    print("dbus-daemon did not start with the policy")
    return 1


def check_version(args, _tmp):
    problems = []
    print(f"meson read version {args.version} from {args.manifest}")

    # cargo's own reading of the workspace: every crate has the version.
    result = run(
        [args.cargo, "metadata", "--no-deps", "--format-version", "1", "--manifest-path", args.manifest]
    )
    if result.returncode != 0:
        show(result)
        die("cargo metadata failed")
    metadata = json.loads(result.stdout)
    members = set(metadata["workspace_members"])
    for package in metadata["packages"]:
        if package["id"] in members:
            print(f"  crate {package['name']}: {package['version']}")
            if package["version"] != args.version:
                problems.append(f"crate {package['name']} is version {package['version']}")

    # The newest release in the metainfo comes first.
    releases = ET.parse(args.metainfo).getroot().findall("./releases/release")
    newest = releases[0].get("version") if releases else None
    print(f"  metainfo {args.metainfo}: newest release {newest}")
    if newest != args.version:
        problems.append(f"the metainfo's newest release is {newest}")

    for binary in map(Path, args.binary):
        result = run([binary.resolve(), "--version"])
        said = result.stdout.strip()
        print(f"  {said}")
        if said != f"{binary.name} {args.version}":
            problems.append(f"{binary} --version says {said!r}")

    for p in problems:
        print(f"version mismatch: {p}, not {args.version}")
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    kinds = parser.add_subparsers(dest="kind", required=True)

    def breakable(p):
        p.add_argument("--break", dest="brk", nargs=2, metavar=("OLD", "NEW"))
        p.add_argument("file")

    tool = kinds.add_parser("tool")
    breakable(tool)
    tool.add_argument("command", nargs=argparse.REMAINDER)
    breakable(kinds.add_parser("man"))
    breakable(kinds.add_parser("bus-policy"))
    units = kinds.add_parser("units")
    units.add_argument("--bindir", required=True)
    units.add_argument("--built-bindir", required=True)
    units.add_argument("units", nargs="+")
    version = kinds.add_parser("version")
    version.add_argument("version")
    version.add_argument("--cargo", required=True)
    version.add_argument("--manifest", required=True)
    version.add_argument("--metainfo", required=True)
    version.add_argument("--binary", action="append", default=[])

    args = parser.parse_args()
    if getattr(args, "command", None) and args.command[0] == "--":
        args.command = args.command[1:]
    check = {
        "tool": check_tool,
        "man": check_man,
        "units": check_units,
        "bus-policy": check_bus_policy,
        "version": check_version,
    }[args.kind]
    with tempfile.TemporaryDirectory(prefix="igotchuu-check-") as tmp:
        try:
            code = check(args, tmp)
        except Exception:  # noqa: BLE001 - a crash must not pass as "rejected"
            traceback.print_exc()
            code = ERROR
    sys.exit(code)


if __name__ == "__main__":
    main()
