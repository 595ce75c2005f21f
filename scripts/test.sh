#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine, as root:
#   scripts/test.sh
# It installs what is missing, builds, checks formatting and lints, and runs
# every test, including the privileged ones (loop btrfs, private mount
# namespaces). Those never skip when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> meson setup"
# meson builds every binary with cargo (the dev profile, in target/, so that
# it shares one build with the lines above) and runs `cargo test` and the
# validators of the installed files. The desktop side is required here.
builddir=target/meson
if [ -f "$builddir/build.ninja" ]; then
  meson setup --reconfigure "$builddir" -Dprofile=dev -Dgui=enabled -Dcargo_target_dir="$PWD/target"
else
  meson setup "$builddir" -Dprofile=dev -Dgui=enabled -Dcargo_target_dir="$PWD/target"
fi
echo "==> meson compile"
meson compile -C "$builddir"
echo "==> meson test"
meson test -C "$builddir" --print-errorlogs

# The end-to-end backup and bus tests again, against Debian 13's restic 0.18
# (scripts/restic-versions.sh fetched it into target/restic-0.18; meson's
# pass above ran Debian 12's 0.14). Same target dir and profile: the
# helper is the one meson built.
restic_018=$(bash scripts/restic-versions.sh)
e2e_018=(backup lifecycle warnings history layouts nested privileges stall
  bus_signals bus_interface bus_polkit bus_activation bus_inhibit bus_resilience
  bus_flood bus_abuse eavesdrop watch
  retention check bus_operations run_conditions)
echo "==> the end-to-end tests with $("$restic_018" version)"
tests=()
for t in "${e2e_018[@]}"; do tests+=(--test "$t"); done
start=$SECONDS
IGOTCHUU_TEST_RESTIC=$restic_018 cargo test --locked -p igotchuu-e2e "${tests[@]}"
echo "==> restic 0.18 pass: $((SECONDS - start)) s"
