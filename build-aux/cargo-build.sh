#!/bin/sh
# Builds igotchuu's binaries with cargo and copies them to where meson
# expects its custom target's outputs. meson.build calls it:
#
#   cargo-build.sh CARGO MANIFEST TARGET_DIR PROFILE OUTDIR PACKAGE:BINARY...
#
# cargo decides what is stale, so meson runs this on every build (the
# target is always stale); a build with nothing to do takes a second.
set -eu

cargo=$1 manifest=$2 target_dir=$3 profile=$4 outdir=$5
shift 5
[ "$#" -gt 0 ] || { echo "cargo-build.sh: no PACKAGE:BINARY given" >&2; exit 2; }

selection=
for pair in "$@"; do
  selection="$selection -p ${pair%%:*} --bin ${pair#*:}"
done

# cargo puts the dev profile in debug/, any other in a folder of its name.
case $profile in
  dev) profile_dir=debug ;;
  *) profile_dir=$profile ;;
esac

# --locked: build exactly what Cargo.lock says (distributions vendor from it).
# shellcheck disable=SC2086 # $selection is a list of words on purpose
CARGO_TARGET_DIR=$target_dir "$cargo" build --manifest-path "$manifest" \
  --locked --profile "$profile" $selection

for pair in "$@"; do
  bin=${pair#*:}
  # Through a temporary name: never a half-copied binary, and no ETXTBSY
  # when the old one is running.
  cp "$target_dir/$profile_dir/$bin" "$outdir/.$bin.tmp"
  mv -f "$outdir/.$bin.tmp" "$outdir/$bin"
done
