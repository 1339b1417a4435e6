#!/usr/bin/env bash
# Runs Dusk's whole test suite on a fresh Debian machine, installing what it needs first.
#
#   scripts/test.sh
#
# First builds and starts the default `dusk` with no system package (scripts/first_run.sh).
# Then installs: Debian packages (apt, only when missing: a C compiler, protoc for the
# opt-in Substrait consumer the tests cover, Chromium and chromedriver for the
# dashboard's browser test, iproute2 for the multi-host test's network namespaces)
# and a Python venv in .venv with the servers the tests start (moto, an S3-compatible
# server) and the clients they drive (pyarrow, ADBC, flightsql-dbapi, DataFusion's
# Substrait producer; tests/python/requirements.txt), then builds
# and runs every test of the workspace (unit, end-to-end clusters, process-mode failure tests,
# doc tests) and checks formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust with rustup first" >&2; exit 2; }
# A cold build gains nothing from incremental state.
export CARGO_INCREMENTAL=0

# The README's first command needs no system package: shown before any is installed.
scripts/first_run.sh

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
# The opt-in Substrait consumer's protobuf code is generated at build time.
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
# The dashboard test drives headless Chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# The multi-host test puts the scheduler and workers in network namespaces.
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
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
# The venv is rebuilt when the requirements change.
requirements=tests/python/requirements.txt
if ! cmp -s "$requirements" .venv/requirements.installed 2>/dev/null; then
    echo "creating .venv with the test servers and Python clients"
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install --quiet -r "$requirements"
    cp "$requirements" .venv/requirements.installed
fi
# Tests find the servers they start on the PATH.
export PATH="$PWD/.venv/bin:$PATH"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== format (${SECONDS} s in)"
cargo fmt --all -- --check
echo "== build and lint (${SECONDS} s in)"
# Clippy runs as the compiler of the workspace's own crates while they build for the
# tests, so its lints cost no second pass over DataFusion and the rest (as a separate
# `cargo clippy` would). Every target is built: lib, bins, tests, benches.
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
# The tests cover the opt-in Substrait consumer too (protoc was installed above).
cargo test --workspace --all-targets --features dusk/substrait --no-run
echo "== tests (${SECONDS} s in)"
# Unit tests, the end-to-end test binary and the CLI; benches are run with `cargo bench`.
cargo test --workspace --lib --bins --tests --features dusk/substrait --no-fail-fast
cargo test --workspace --doc --features dusk/substrait
echo "== all tests passed (${SECONDS} s)"
