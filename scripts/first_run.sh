#!/usr/bin/env bash
# The README's first command as a newcomer meets it, on a machine with Rust and a C
# compiler only: builds the default `dusk` with `protoc` hidden (even where the machine
# has it), checks the binary links no BLAS, then starts `dusk local`
# on a fresh state directory, answers one query over the sample data through `dusk sql`
# and stops the cluster with Ctrl-C.
#
#   scripts/first_run.sh [--release]
#
# `scripts/test.sh` runs it (debug profile, which needs the same build tools as the
# release one) before it installs anything.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
build_flags=()
if [ "${1:-}" = "--release" ]; then
    profile=release
    build_flags+=(--release)
fi

# A build step that runs protoc fails instead of finding one. (OpenBLAS is shown absent
# by the binary itself, below: pointing pkg-config elsewhere would also make the
# build scripts that probe it run again in the test build, and rebuild all above them.)
export PROTOC=/nonexistent/protoc
echo "== first run: cargo build ${build_flags[*]:-} --bin dusk (no protoc, no OpenBLAS)"
cargo build "${build_flags[@]}" --bin dusk
dusk="target/$profile/dusk"
if ldd "$dusk" | grep -i blas; then
    echo "first run: $dusk links a BLAS library; the default build must need none" >&2
    exit 1
fi

state=$(mktemp -d)
log="$state/local.log"
pid=""
trap 'if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi; rm -rf "$state"' EXIT
# No terminal: `local` serves in the foreground until Ctrl-C.
"$dusk" local --no-repl --port 0 --no-dashboard --state-dir "$state" >"$log" 2>&1 &
pid=$!
url=""
for _ in $(seq 1 600); do
    url=$(sed -n 's/^Dusk scheduler listening on \(grpc[^ ]*\).*/\1/p' "$log" | head -1)
    if [ -n "$url" ] && grep -q "^Started " "$log"; then
        break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "first run: dusk local exited before it served:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done
[ -n "$url" ] || { echo "first run: dusk local never said where it listens:" >&2; cat "$log" >&2; exit 1; }

# The sample tables are registered once their data is generated: retry until then.
answer=""
for _ in $(seq 1 300); do
    if answer=$("$dusk" sql "$url" --format csv -c "SELECT count(*) AS n, min(n_name) AS first FROM nation" 2>&1); then
        break
    fi
    sleep 0.2
done
echo "$answer"
# TPC-H defines 25 nations, ALGERIA first.
if ! printf '%s\n' "$answer" | grep -qx "25,ALGERIA"; then
    echo "first run: wrong answer from the sample data:" >&2
    cat "$log" >&2
    exit 1
fi

kill -INT "$pid"
status=0
wait "$pid" || status=$?
if [ "$status" -ne 0 ]; then
    echo "first run: dusk local exited with $status after Ctrl-C:" >&2
    cat "$log" >&2
    exit 1
fi
echo "== first run: built without system packages, answered, stopped cleanly"
