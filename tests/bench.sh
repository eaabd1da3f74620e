#!/usr/bin/env bash
# Benchmark command (not a test): requests/s and p50/p99 latency for identify,
# send-code and verify-code in the runner (loopback only), and Argon2id native
# (the Rust crate, and libargon2 through Debian's argon2 command, installed
# here when missing) vs in a component. Prints Markdown tables. See
# tests/bench/src/main.rs for the method; arguments go to the bench:
#   bash tests/bench.sh [--requests N] [--concurrency C] [--max-seconds T] [--hashes K]
# With --scale (tests/bench/src/scale.rs): users seeded straight into the store
# (SQLite, then Redis), p50/p99 per route and the host's peak memory per size:
#   bash tests/bench.sh --scale [--users 1000,100000,1000000] [--backends sqlite,redis]
#     [--requests N] [--warmups W] [--sweeps K] [--max-seconds T] [--dir D]
# The host is the runner built here, or a real Spin from UNLATCH_SPIN.
# With --argon: the OWASP-equivalent Argon2id sets, native (both) and in a component
# built without and with simd128 (tests/bench/src/bin/argon_params.rs).
# With --startup: host start to first answer, compile cache cold and warm, and
# each component's first request against its steady state (bin/startup.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
native_target="${CARGO_TARGET_DIR:-target}"
# The manifests point at the default target dir, so the wasm goes there.
unset CARGO_TARGET_DIR
bash tests/build-components.sh
cargo build --locked --target wasm32-wasip2 --release -p argon-probe -p runner-probe
# Runner and bench: optimised, no LTO, many codegen units (see [profile.bench-native]).
CARGO_TARGET_DIR="$native_target" cargo build --locked --profile bench-native -p unlatch-bench -p unlatch-runner
# Installs Debian package $2 when command $1 is missing.
need() {
  command -v "$1" >/dev/null && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$2" >/dev/null
}
case "${1:-}" in
  --scale) need redis-server redis-server ;;
  --startup) ;;
  # The main bench and --argon time libargon2 (the reference C implementation) through its command.
  *) need argon2 argon2 ;;
esac
# The host the benches start (`spin up` command line), unless UNLATCH_SPIN names a real Spin.
UNLATCH_RUNNER="$(realpath "$native_target")/bench-native/unlatch-runner"
export UNLATCH_RUNNER
case "${1:-}" in
  --argon)
    # The components build with simd128 (.cargo/config.toml); the other build turns it off.
    RUSTFLAGS="-C target-feature=-simd128" CARGO_TARGET_DIR=target/no-simd128 \
      cargo build --locked --target wasm32-wasip2 --release -p argon-probe
    exec "$native_target/bench-native/argon_params" target/no-simd128/wasm32-wasip2/release/argon_probe.wasm \
      target/wasm32-wasip2/release/argon_probe.wasm "${@:2}" ;;
  --startup)
    exec "$native_target/bench-native/startup" "${@:2}" ;;
esac
exec "$native_target/bench-native/unlatch-bench" "$@"
