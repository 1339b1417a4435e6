#!/usr/bin/env bash
# Runs Dusk's whole test suite on a fresh Debian machine, installing what it needs first.
#
#   scripts/test.sh
#
# Installs: Debian build tools (apt, only when missing) and a Python venv in .venv with
# the servers the tests start (moto, an S3-compatible server), then builds and runs
# every test of the workspace (unit, end-to-end clusters, process-mode failure tests,
# doc tests) and checks formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing Debian packages: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
command -v python3 >/dev/null 2>&1 || need_python=1
if [ -n "${need_python:-}" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 python3-venv
fi
if [ ! -x .venv/bin/moto_server ]; then
    echo "creating .venv with the test servers"
    python3 -m venv .venv
    .venv/bin/pip install --quiet 'moto[server]==5.*'
fi
# Tests find the servers they start on the PATH.
export PATH="$PWD/.venv/bin:$PATH"
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust with rustup first" >&2; exit 2; }
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== format (${SECONDS} s in)"
cargo fmt --all -- --check
echo "== tests (${SECONDS} s in)"
# Unit tests, the end-to-end test binary and the CLI; benches are built by clippy below
# and run with `cargo bench`, not here.
cargo test --workspace --lib --bins --tests --no-fail-fast
cargo test --workspace --doc
echo "== lints (${SECONDS} s in)"
cargo clippy --workspace --all-targets -- -D warnings
echo "== all tests passed (${SECONDS} s)"
