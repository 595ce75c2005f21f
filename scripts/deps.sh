#!/usr/bin/env bash
# Installs what igotchuu needs on Debian 12, and nothing that is already there.
#   scripts/deps.sh run     what a backup needs (restic, btrfs)
#   scripts/deps.sh build   plus what building needs
#   scripts/deps.sh demo    plus what scripts/demo.sh runs (a private system bus, polkitd)
#   scripts/deps.sh test    plus what the test suite needs, and Debian 13's
#                           restic 0.18 in target/restic-0.18 (scripts/restic-versions.sh)
set -euo pipefail

# fuse3: fusermount3, which `restic mount` needs (igotchuu mount, and
# Browse from the desktop).
run_pkgs=(restic btrfs-progs util-linux mount fuse3)
# The window links GTK 4.8 and libadwaita 1.2; meson drives the build;
# gettext's msgfmt builds the translations (po/).
build_pkgs=(build-essential pkg-config libgtk-4-dev libadwaita-1-dev meson ninja-build gettext)
# The demo's private system bus (dbus-daemon, dbus-send) and polkitd on it.
demo_pkgs=(dbus polkitd)
# Private system buses and polkitd; the desktop stack the tray and window
# tests run on (Xvfb, a StatusNotifierWatcher and a tray host, dunst, the
# fonts and icons a GNOME app draws with, ImageMagick for screenshots); the
# validators meson runs; a restic REST server (rclone serve restic) for a
# repository that stops answering; sshd for sftp repositories, and openssl
# for the REST server's login and certificate (tests/src/servers.rs);
# systemd-nspawn, to boot real systemd for the units' tests (tests/src/nspawn.rs);
# Python's Gio for a D-Bus client that floods the helper (tests/bus_abuse.rs);
# python3-dbusmock, whose upower and networkmanager templates stand in for
# UPower and NetworkManager (tests/src/dbusmock.rs, systemd_conditions.rs);
# glibc's locale sources, from which the German UI test builds de_DE
# (gui/window/tests/german.rs).
test_pkgs=(dbus libxml2-utils systemd polkitd libglib2.0-bin passwd
  xvfb dunst haskell-status-notifier-item-utils haskell-gtk-sni-tray-utils
  fonts-cantarell fonts-dejavu-core adwaita-icon-theme hicolor-icon-theme imagemagick
  desktop-file-utils appstream man-db python3-gi python3-dbusmock
  rclone openssh-server openssh-client openssl
  systemd-container locales)

case "${1:-run}" in
  run) pkgs=("${run_pkgs[@]}") ;;
  build) pkgs=("${run_pkgs[@]}" "${build_pkgs[@]}") ;;
  demo) pkgs=("${run_pkgs[@]}" "${build_pkgs[@]}" "${demo_pkgs[@]}") ;;
  test) pkgs=("${run_pkgs[@]}" "${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 run|build|demo|test" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "igotchuu: run this as root (sudo $0 $*): it installs packages, and igotchuu makes btrfs snapshots" >&2
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> Installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-run}" = test ]; then
  # Debian 13's restic 0.18 for a second pass of the end-to-end tests, from
  # Debian's archive into target/restic-0.18 (not installed).
  bash "$(dirname "$0")/restic-versions.sh" >/dev/null
fi

if [ "${1:-run}" != run ]; then
  if ! command -v cargo >/dev/null; then
    # shellcheck disable=SC1091
    [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  fi
  if ! command -v cargo >/dev/null; then
    echo "igotchuu: cargo (Rust 1.85 or newer) is needed to build; install it with rustup (https://rustup.rs)" >&2
    exit 1
  fi
fi
