#!/usr/bin/env bash
# Fetches Debian 13's restic 0.18 for the tests, next to Debian 12's own 0.14:
#   scripts/restic-versions.sh          prints the path of the restic 0.18 binary
#
# The `.deb` comes from Debian's archive (trixie), through apt with a private
# configuration in the cache folder: the machine's own apt sources, lists and
# package cache are not touched, and nothing is installed. The package is
# unpacked with `dpkg-deb -x` into the cache folder (the binary is static).
# apt checks the package against trixie's signed Release file, with the keys
# of Debian 12's debian-archive-keyring.
#
# Once fetched, running it again does nothing and needs no network.
#   IGOTCHUU_RESTIC_CACHE=DIR   the cache folder (default: target/restic-0.18)
# The tests use it with IGOTCHUU_TEST_RESTIC=$(scripts/restic-versions.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

WANT=0.18
DIR=${IGOTCHUU_RESTIC_CACHE:-$PWD/target/restic-$WANT}
BIN=$DIR/usr/bin/restic
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

fetched() {
  [ -x "$BIN" ] && "$BIN" version 2>/dev/null | grep -q "^restic $WANT\."
}

if fetched; then
  echo "$BIN"
  exit 0
fi

if [ ! -r "$KEYRING" ]; then
  echo "igotchuu: $KEYRING is missing (package debian-archive-keyring)" >&2
  exit 1
fi

mkdir -p "$DIR"
apt_dir=$(mktemp -d "$DIR/apt.XXXXXX")
trap 'rm -rf "$apt_dir"' EXIT
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/deb"
# apt downloads as the user _apt where there is one: let it in.
chmod 0755 "$apt_dir"
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$apt_dir/deb"; fi
cat > "$apt_dir/trixie.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Architectures: $(dpkg --print-architecture)
Signed-By: $KEYRING
EOF
: > "$apt_dir/status"
apt_opts=(
  -o "Dir::Etc::sourcelist=$apt_dir/trixie.sources"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::State::status=$apt_dir/status"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
  -o "Acquire::Languages=none"
  -o "APT::Get::List-Cleanup=false"
)
echo "==> Fetching restic $WANT from Debian's archive (trixie)" >&2
apt-get -qq "${apt_opts[@]}" update >&2
version=$(apt-cache "${apt_opts[@]}" show restic | sed -n 's/^Version: //p' | head -n 1)
case $version in
  "$WANT".*) ;;
  *)
    echo "igotchuu: trixie's restic is '$version', not $WANT" >&2
    exit 1
    ;;
esac
# apt-get download writes into the current folder.
(cd "$apt_dir/deb" && apt-get -qq "${apt_opts[@]}" download "restic=$version" >&2)
deb=$(echo "$apt_dir"/deb/restic_*.deb)
rm -rf "$DIR/usr"
dpkg-deb -x "$deb" "$DIR"
if ! fetched; then
  echo "igotchuu: $BIN from $(basename "$deb") does not run as restic $WANT" >&2
  exit 1
fi
echo "==> restic $WANT: $BIN ($("$BIN" version))" >&2
echo "$BIN"
