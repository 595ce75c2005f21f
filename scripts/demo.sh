#!/usr/bin/env bash
# A real igotchuu backup on a throwaway btrfs, on a fresh Debian 12 machine, as root:
#   scripts/demo.sh           install what is missing, build, and back up sample data
#   scripts/demo.sh --clean   remove everything the demo made
# It is safe to run again: each run starts from a clean demo.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO=/var/tmp/igotchuu-demo
MNT=$DEMO/btrfs

clean() {
  if mountpoint -q "$MNT" 2>/dev/null; then
    umount "$MNT"
  fi
  # A loop device still attached to our image (the mount auto-clears it).
  losetup -j "$DEMO/btrfs.img" 2>/dev/null | cut -d: -f1 | xargs -r -n1 losetup -d
  rm -rf "$DEMO"
}

if [ "${1:-}" = --clean ]; then
  [ "$(id -u)" -eq 0 ] || { echo "run as root: sudo $0 --clean" >&2; exit 1; }
  clean
  echo "Removed the demo: $DEMO, its loop device and its mount."
  exit 0
fi

bash scripts/deps.sh build
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

echo "==> Building igotchuu (release)"
cargo build --release --locked --bin igotchuu
IGOTCHUU=$PWD/target/release/igotchuu

echo "==> Making a throwaway btrfs with sample data in $DEMO"
clean
mkdir -p "$MNT" "$DEMO/state"
truncate -s 1G "$DEMO/btrfs.img"
mkfs.btrfs -q "$DEMO/btrfs.img"
mount -o loop "$DEMO/btrfs.img" "$MNT"
btrfs -q subvolume create "$MNT/home"
btrfs -q subvolume create "$MNT/srv"
mkdir -p "$MNT/home/alice" "$MNT/srv/www"
cp -r /usr/share/doc "$MNT/home/alice/documents"
cp -r /usr/share/common-licenses "$MNT/srv/www/licenses"
head -c 64M /dev/urandom > "$MNT/home/alice/holiday-video.bin"

echo "==> Making a local restic repository"
head -c 32 /dev/urandom | base64 > "$DEMO/password"
chmod 600 "$DEMO/password"
cat > "$DEMO/igotchuu.toml" <<TOML
# The demo's configuration; see data/igotchuu.toml for every setting.
places = ["$MNT/home", "$MNT/srv"]
repo = "$DEMO/repository"
password_file = "$DEMO/password"
restic_backup_args = ["--one-file-system"]
# Keep restic's cache inside the demo, so --clean removes it too.
restic_args = ["--cache-dir", "$DEMO/cache"]
TOML
chmod 600 "$DEMO/igotchuu.toml"
export STATE_DIRECTORY=$DEMO/state
"$IGOTCHUU" -c "$DEMO/igotchuu.toml" restic -- init --quiet

echo
echo "==> igotchuu check-config"
"$IGOTCHUU" -c "$DEMO/igotchuu.toml" check-config
echo
echo "==> igotchuu backup"
"$IGOTCHUU" -c "$DEMO/igotchuu.toml" backup
echo
echo "==> A second backup: unchanged files are recognised, nothing is re-read"
"$IGOTCHUU" -c "$DEMO/igotchuu.toml" backup
echo
echo "==> igotchuu restic -- snapshots"
"$IGOTCHUU" -c "$DEMO/igotchuu.toml" restic -- snapshots
echo
echo "The demo lives in $DEMO (btrfs mounted on $MNT)."
echo "Try: STATE_DIRECTORY=$DEMO/state $IGOTCHUU -c $DEMO/igotchuu.toml restic -- ls latest"
echo "Remove it all with: $0 --clean"
