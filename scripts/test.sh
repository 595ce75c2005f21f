#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine, as root:
#   scripts/test.sh
# It installs what is missing, builds, checks formatting and lints, and runs
# every test, including the privileged ones (loop btrfs, private mount
# namespaces). Those never skip when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> build"
# The end-to-end tests run the real binaries.
cargo build --workspace --bins --locked
echo "==> tests"
cargo test --workspace --locked
