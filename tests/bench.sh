#!/usr/bin/env bash
# Benchmark command (not a test): requests/s and p50/p99 latency for identify,
# send-code and verify-code in the runner (loopback only), and Argon2id native
# vs in a component. Prints Markdown tables. See tests/bench/src/main.rs for the
# method; arguments go to the bench:
#   bash tests/bench.sh [--requests N] [--concurrency C] [--max-seconds T] [--hashes K]
set -euo pipefail
cd "$(dirname "$0")/.."
native_target="${CARGO_TARGET_DIR:-target}"
# The manifests point at the default target dir, so the wasm goes there.
unset CARGO_TARGET_DIR
bash tests/build-components.sh
cargo build --locked --target wasm32-wasip2 --release -p argon-probe
# Runner and bench: optimised, no LTO, many codegen units (see [profile.bench-native]).
CARGO_TARGET_DIR="$native_target" cargo build --locked --profile bench-native -p unlatch-bench
exec "$native_target/bench-native/unlatch-bench" "$@"
